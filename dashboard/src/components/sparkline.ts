/** A small history chart drawn on a canvas: the average line with a min–max band. */
export interface SparkPoint {
  ts: number;
  avg: number;
  min: number;
  max: number;
}

export function drawSparkline(canvas: HTMLCanvasElement, points: SparkPoint[], color = '#38bdf8'): void {
  const ratio = window.devicePixelRatio || 1;
  const width = canvas.clientWidth || 260;
  const height = canvas.clientHeight || 64;
  canvas.width = width * ratio;
  canvas.height = height * ratio;
  const ctx = canvas.getContext('2d');
  if (!ctx) return;
  ctx.scale(ratio, ratio);
  ctx.clearRect(0, 0, width, height);
  if (points.length < 2) return;
  const t0 = points[0]?.ts ?? 0;
  const t1 = points.at(-1)?.ts ?? 1;
  let lo = Math.min(...points.map((p) => p.min));
  let hi = Math.max(...points.map((p) => p.max));
  if (hi - lo < 1e-9) {
    hi += 1;
    lo -= 1;
  }
  const x = (ts: number) => ((ts - t0) / Math.max(1, t1 - t0)) * (width - 4) + 2;
  const y = (v: number) => height - 4 - ((v - lo) / (hi - lo)) * (height - 8);
  ctx.fillStyle = `${color}33`;
  ctx.beginPath();
  ctx.moveTo(x(t0), y(points[0]?.max ?? 0));
  for (const p of points) ctx.lineTo(x(p.ts), y(p.max));
  for (const p of [...points].reverse()) ctx.lineTo(x(p.ts), y(p.min));
  ctx.closePath();
  ctx.fill();
  ctx.strokeStyle = color;
  ctx.lineWidth = 1.5;
  ctx.beginPath();
  ctx.moveTo(x(t0), y(points[0]?.avg ?? 0));
  for (const p of points) ctx.lineTo(x(p.ts), y(p.avg));
  ctx.stroke();
  ctx.fillStyle = '#94a3b8';
  ctx.font = '10px sans-serif';
  ctx.fillText(hi.toFixed(1), 2, 10);
  ctx.fillText(lo.toFixed(1), 2, height - 2);
}
