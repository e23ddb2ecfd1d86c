// A small live line chart on a 2-D canvas: several series against the step number.

export interface Series {
  name: string;
  color: string;
  points: { x: number; y: number }[];
}

export function drawChart(canvas: HTMLCanvasElement, series: readonly Series[], title = ''): void {
  const ctx = canvas.getContext('2d');
  if (!ctx) return;
  const { width, height } = canvas;
  const left = 56;
  const right = 120;
  const top = 16;
  const bottom = 28;
  ctx.fillStyle = '#fff';
  ctx.fillRect(0, 0, width, height);
  const all = series.flatMap((s) => s.points).filter((p) => Number.isFinite(p.y));
  ctx.font = '12px system-ui, sans-serif';
  ctx.fillStyle = '#444';
  if (title) ctx.fillText(title, left, 12);
  if (all.length < 1) {
    ctx.fillText('no data yet', left + 10, height / 2);
    return;
  }
  const xMin = Math.min(...all.map((p) => p.x));
  const xMax = Math.max(xMin + 1, ...all.map((p) => p.x));
  const yMin = Math.min(0, ...all.map((p) => p.y));
  const yMax = Math.max(yMin + 1e-6, ...all.map((p) => p.y));
  const sx = (x: number) => left + ((x - xMin) / (xMax - xMin)) * (width - left - right);
  const sy = (y: number) =>
    height - bottom - ((y - yMin) / (yMax - yMin)) * (height - top - bottom);
  ctx.strokeStyle = '#bbb';
  ctx.beginPath();
  ctx.moveTo(left, top);
  ctx.lineTo(left, height - bottom);
  ctx.lineTo(width - right, height - bottom);
  ctx.stroke();
  ctx.fillStyle = '#444';
  for (let k = 0; k <= 4; k++) {
    const y = yMin + ((yMax - yMin) * k) / 4;
    ctx.fillText(y.toFixed(y >= 100 ? 0 : 1), 4, sy(y) + 4);
  }
  ctx.fillText(`step ${xMin}`, left, height - 8);
  ctx.fillText(`${xMax}`, width - right - 30, height - 8);
  series.forEach((s, i) => {
    ctx.strokeStyle = s.color;
    ctx.lineWidth = 2;
    ctx.beginPath();
    s.points.forEach((p, j) =>
      j === 0 ? ctx.moveTo(sx(p.x), sy(p.y)) : ctx.lineTo(sx(p.x), sy(p.y)),
    );
    ctx.stroke();
    ctx.fillStyle = s.color;
    const last = s.points.at(-1);
    ctx.fillText(
      `${s.name}${last ? ` ${last.y.toFixed(1)}` : ''}`,
      width - right + 8,
      top + 16 * i + 8,
    );
  });
}
