// A bar chart of counts on a 2-D canvas, laid out as chart.ts lays out its line chart: one bar per
// bin (the VQ panel: one per code, its usage count), some bars in a highlight colour.

export interface BarOptions {
  title?: string;
  /** Bins drawn in the highlight colour (the VQ panel: the codes of the digit shown). */
  highlight?: ReadonlySet<number>;
}

const BAR = '#1f77b4';
const HIGHLIGHT = '#ff7f0e';

export function drawBars(
  canvas: HTMLCanvasElement,
  counts: readonly number[],
  options: BarOptions = {},
): void {
  const ctx = canvas.getContext('2d');
  if (!ctx) return;
  const { width, height } = canvas;
  const left = 56;
  const right = 16;
  const top = 20;
  const bottom = 28;
  ctx.fillStyle = '#fff';
  ctx.fillRect(0, 0, width, height);
  ctx.font = '12px system-ui, sans-serif';
  ctx.fillStyle = '#444';
  if (options.title) ctx.fillText(options.title, left, 12);
  if (counts.length === 0) {
    ctx.fillText('no data yet', left + 10, height / 2);
    return;
  }
  const yMax = Math.max(1, ...counts);
  const plotW = width - left - right;
  const plotH = height - top - bottom;
  const slot = plotW / counts.length;
  // A gap between bars while they are wide enough to show one.
  const gap = slot >= 4 ? 1 : 0;
  counts.forEach((c, k) => {
    const h = (c / yMax) * plotH;
    ctx.fillStyle = options.highlight?.has(k) ? HIGHLIGHT : BAR;
    ctx.fillRect(left + k * slot + gap / 2, top + plotH - h, Math.max(1, slot - gap), h);
  });
  ctx.strokeStyle = '#bbb';
  ctx.beginPath();
  ctx.moveTo(left, top);
  ctx.lineTo(left, top + plotH);
  ctx.lineTo(width - right, top + plotH);
  ctx.stroke();
  ctx.fillStyle = '#444';
  ctx.fillText(String(yMax), 4, top + 4);
  ctx.fillText('0', 4, top + plotH + 4);
  // About eight bin numbers along the axis, at round steps.
  const step = Math.max(1, Math.ceil(counts.length / 8));
  for (let k = 0; k < counts.length; k += step) {
    ctx.fillText(String(k), left + (k + 0.5) * slot - 3, height - 10);
  }
}
