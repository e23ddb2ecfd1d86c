// Headless Chromium (Debian's, on SwiftShader) driven by puppeteer-core, serving a built folder.
import { createServer, type Server } from 'node:http';
import { mkdtempSync, readFileSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { extname, join, normalize } from 'node:path';
import type { AddressInfo } from 'node:net';
import puppeteer, { type Browser } from 'puppeteer-core';

export const CHROMIUM = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium';

const TYPES: Record<string, string> = {
  '.html': 'text/html',
  '.js': 'text/javascript',
  '.css': 'text/css',
  '.json': 'application/json',
  '.png': 'image/png',
  '.wasm': 'application/wasm',
};

/** Serves `root` on 127.0.0.1 (a free port). */
export async function serveStatic(root: string): Promise<{ url: string; server: Server }> {
  const server = createServer((req, res) => {
    const path = normalize(decodeURIComponent((req.url ?? '/').split('?')[0]!)).replace(
      /^(\.\.[/\\])+/,
      '',
    );
    let file = join(root, path);
    try {
      if (statSync(file).isDirectory()) file = join(file, 'index.html');
      const body = readFileSync(file);
      res.writeHead(200, { 'content-type': TYPES[extname(file)] ?? 'application/octet-stream' });
      res.end(body);
    } catch {
      res.writeHead(404);
      res.end('not found');
    }
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return { url: `http://127.0.0.1:${port}`, server };
}

export interface LaunchOptions {
  /**
   * Give ANGLE SwiftShader too (default true). Without it WebGPU compute works but a WebGPU canvas
   * loses its device ("A valid external Instance reference no longer exists"): the demo's
   * readback fallback.
   */
  angle?: boolean;
  /** A profile directory to use (and keep) instead of a fresh temporary one. */
  profile?: string;
}

/** Launches headless Chromium with WebGPU on SwiftShader and a fresh profile. */
export async function launchChromium(
  options: LaunchOptions = {},
): Promise<{ browser: Browser; close: () => Promise<void> }> {
  const profile = options.profile ?? mkdtempSync(join(tmpdir(), 'webgpu-vae-chromium-'));
  const browser = await puppeteer.launch({
    executablePath: CHROMIUM,
    pipe: true,
    headless: true,
    args: [
      '--headless',
      '--no-sandbox',
      '--enable-unsafe-webgpu',
      '--enable-features=Vulkan',
      '--use-vulkan=swiftshader',
      '--use-webgpu-adapter=swiftshader',
      // WebGPU canvases need ANGLE on SwiftShader too (otherwise no swap-chain backing).
      ...(options.angle === false ? [] : ['--use-angle=swiftshader']),
      '--enable-unsafe-swiftshader',
      '--disable-quic',
      '--no-first-run',
      '--disable-background-networking',
      '--disable-component-update',
      '--disable-sync',
      `--user-data-dir=${profile}`,
    ],
  });
  return {
    browser,
    close: async () => {
      await browser.close();
      if (!options.profile) rmSync(profile, { recursive: true, force: true });
    },
  };
}
