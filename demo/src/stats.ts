// Mean, spread and a hash of an image's grey levels: what the demo test checks of a canvas (that
// it is not blank, and that it changed). Used on both threads.
import type { CanvasStats } from './protocol.js';

export function imageStats(data: ImageData): CanvasStats {
  const px = data.data;
  const n = px.length / 4;
  let sum = 0;
  let sq = 0;
  let hash = 2166136261;
  for (let i = 0; i < n; i++) {
    const v = (px[4 * i]! + px[4 * i + 1]! + px[4 * i + 2]!) / 3;
    sum += v;
    sq += v * v;
    hash = Math.imul(hash ^ px[4 * i]!, 16777619) >>> 0;
  }
  const mean = sum / n;
  const std = Math.sqrt(Math.max(0, sq / n - mean * mean));
  return { mean, std, hash, width: data.width, height: data.height };
}
