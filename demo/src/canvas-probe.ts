// Whether WebGPU canvases work in this browser. Run on the main thread before the worker starts:
// where they do not (headless Chromium without ANGLE on SwiftShader), using one drops the WebGPU
// instance of the thread that tried ("A valid external Instance reference no longer exists"), so
// the worker, which creates its own instance afterwards, never touches one.

/** Tries a throwaway device on a throwaway canvas: configure, clear, submit, check. */
export async function webgpuCanvasWorks(timeoutMs = 10_000): Promise<boolean> {
  const gpu = (globalThis as { navigator?: { gpu?: GPU } }).navigator?.gpu;
  if (!gpu || typeof OffscreenCanvas === 'undefined') return false;
  const adapter = await gpu.requestAdapter();
  if (!adapter) return false;
  const device = await adapter.requestDevice({ label: 'canvas probe' });
  const timeout = new Promise<boolean>((resolve) => setTimeout(() => resolve(false), timeoutMs));
  try {
    const canvas = new OffscreenCanvas(4, 4);
    const context = canvas.getContext('webgpu');
    if (!context) return false;
    device.pushErrorScope('validation');
    context.configure({ device, format: gpu.getPreferredCanvasFormat(), alphaMode: 'opaque' });
    const encoder = device.createCommandEncoder({ label: 'canvas probe' });
    encoder
      .beginRenderPass({
        colorAttachments: [
          { view: context.getCurrentTexture().createView(), loadOp: 'clear', storeOp: 'store' },
        ],
      })
      .end();
    device.queue.submit([encoder.finish()]);
    const checked = device
      .popErrorScope()
      .then(async (error) => error === null && (await device.queue.onSubmittedWorkDone(), true));
    return await Promise.race([checked, device.lost.then(() => false), timeout]);
  } catch {
    return false;
  } finally {
    device.destroy();
  }
}
