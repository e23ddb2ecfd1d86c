// Scatter plots of 2-D points on a 2-D canvas, with a shared view box.

export interface ScatterBox {
  xMin: number;
  xMax: number;
  yMin: number;
  yMax: number;
}

/** A square box around the points (with a margin). */
export function boxOf(points: Float32Array): ScatterBox {
  let xMin = Infinity;
  let xMax = -Infinity;
  let yMin = Infinity;
  let yMax = -Infinity;
  for (let i = 0; i + 1 < points.length; i += 2) {
    const x = points[i]!;
    const y = points[i + 1]!;
    if (!Number.isFinite(x) || !Number.isFinite(y)) continue;
    xMin = Math.min(xMin, x);
    xMax = Math.max(xMax, x);
    yMin = Math.min(yMin, y);
    yMax = Math.max(yMax, y);
  }
  if (!Number.isFinite(xMin)) return { xMin: -1, xMax: 1, yMin: -1, yMax: 1 };
  const half = (Math.max(xMax - xMin, yMax - yMin) / 2) * 1.15 + 1e-3;
  const cx = (xMin + xMax) / 2;
  const cy = (yMin + yMax) / 2;
  return { xMin: cx - half, xMax: cx + half, yMin: cy - half, yMax: cy + half };
}

export function drawScatter(
  canvas: HTMLCanvasElement,
  points: Float32Array,
  box: ScatterBox,
  color: string,
): void {
  const ctx = canvas.getContext('2d');
  if (!ctx) return;
  const { width, height } = canvas;
  ctx.fillStyle = '#fff';
  ctx.fillRect(0, 0, width, height);
  ctx.strokeStyle = '#ddd';
  const sx = (x: number) => ((x - box.xMin) / (box.xMax - box.xMin)) * width;
  const sy = (y: number) => height - ((y - box.yMin) / (box.yMax - box.yMin)) * height;
  ctx.beginPath();
  ctx.moveTo(sx(0), 0);
  ctx.lineTo(sx(0), height);
  ctx.moveTo(0, sy(0));
  ctx.lineTo(width, sy(0));
  ctx.stroke();
  ctx.fillStyle = color;
  for (let i = 0; i + 1 < points.length; i += 2) {
    const x = sx(points[i]!);
    const y = sy(points[i + 1]!);
    if (Number.isFinite(x) && Number.isFinite(y)) ctx.fillRect(x - 1, y - 1, 2.5, 2.5);
  }
}
