// The tune's picture: accuracy against frames/s, every candidate grey, the Pareto front red, the
// recommendation ringed green, the frame-rate floor blue. Drawn with OpenCV (no plotting stack
// on an edge box); the layout is a pure function so its geometry is testable.
import { loadOpenCV } from '../preprocess/opencv.js';
import { accuracyOf, paretoFront, type CandidateResult, type Metric } from './pareto.js';

const WIDTH = 900;
const HEIGHT = 560;
const MARGIN = { left: 80, right: 30, top: 50, bottom: 60 };

export interface PlotLayout {
  width: number;
  height: number;
  /** Data ranges on the axes. */
  x: { min: number; max: number; ticks: number[] };
  y: { min: number; max: number; ticks: number[] };
  toPixel(fps: number, accuracy: number): { x: number; y: number };
}

export function plotLayout(results: CandidateResult[], metric: Metric, minFps: number): PlotLayout {
  const fps = results.map((r) => r.fps);
  const acc = results.map((r) => accuracyOf(r, metric));
  const xMax = niceCeil(Math.max(...fps, minFps) * 1.08);
  let yMin = Math.min(...acc);
  let yMax = Math.max(...acc);
  const pad = Math.max(0.01, (yMax - yMin) * 0.1);
  yMin = Math.max(0, yMin - pad);
  yMax = Math.min(1, yMax + pad);
  if (yMax - yMin < 0.02) yMin = Math.max(0, yMax - 0.02);
  const plotW = WIDTH - MARGIN.left - MARGIN.right;
  const plotH = HEIGHT - MARGIN.top - MARGIN.bottom;
  return {
    width: WIDTH,
    height: HEIGHT,
    x: { min: 0, max: xMax, ticks: ticks(0, xMax) },
    y: { min: yMin, max: yMax, ticks: ticks(yMin, yMax) },
    toPixel: (f, a) => ({
      x: Math.round(MARGIN.left + (f / xMax) * plotW),
      y: Math.round(MARGIN.top + (1 - (a - yMin) / (yMax - yMin)) * plotH),
    }),
  };
}

/** Writes the PNG to `path`. */
export async function writeParetoPlot(
  path: string,
  results: CandidateResult[],
  metric: Metric,
  minFps: number,
  recommended: CandidateResult | undefined,
): Promise<void> {
  const cv = await loadOpenCV();
  const L = plotLayout(results, metric, minFps);
  const img = new cv.Mat(L.height, L.width, cv.CV_8UC3, [255, 255, 255]);
  const pt = (f: number, a: number) => {
    const p = L.toPixel(f, a);
    return new cv.Point2(p.x, p.y);
  };
  const bgr = (r: number, g: number, b: number) => new cv.Vec3(b, g, r);
  const text = (s: string, x: number, y: number, scale = 0.45, color = bgr(40, 40, 40)) =>
    img.putText(s, new cv.Point2(x, y), cv.FONT_HERSHEY_SIMPLEX, scale, color, 1, cv.LINE_AA);
  const grid = bgr(225, 225, 225);
  for (const t of L.x.ticks) {
    img.drawLine(pt(t, L.y.min), pt(t, L.y.max), grid, 1);
    text(fmtTick(t), pt(t, L.y.min).x - 10, L.height - MARGIN.bottom + 20);
  }
  for (const t of L.y.ticks) {
    img.drawLine(pt(L.x.min, t), pt(L.x.max, t), grid, 1);
    text(t.toFixed(3), 18, pt(0, t).y + 5);
  }
  img.drawRectangle(pt(L.x.min, L.y.max), pt(L.x.max, L.y.min), bgr(90, 90, 90), 1);
  text('frames/s of the scoring path on this machine', L.width / 2 - 170, L.height - 18, 0.5);
  text(`${metric} on the validation folder`, 12, 30, 0.5);
  if (minFps > 0) {
    const top = pt(minFps, L.y.max).y;
    const bottom = pt(minFps, L.y.min).y;
    for (let y = top; y < bottom; y += 12)
      img.drawLine(new cv.Point2(pt(minFps, 0).x, y), new cv.Point2(pt(minFps, 0).x, Math.min(bottom, y + 6)), bgr(40, 90, 220), 1);
    text(`--min-fps ${minFps}`, pt(minFps, 0).x + 5, top + 15, 0.45, bgr(40, 90, 220));
  }
  for (const r of results) img.drawCircle(pt(r.fps, accuracyOf(r, metric)), 4, bgr(150, 150, 150), -1, cv.LINE_AA);
  const front = paretoFront(results, metric).sort((a, b) => a.fps - b.fps);
  for (let i = 1; i < front.length; i++)
    img.drawLine(
      pt(front[i - 1]!.fps, accuracyOf(front[i - 1]!, metric)),
      pt(front[i]!.fps, accuracyOf(front[i]!, metric)),
      bgr(210, 40, 40),
      2,
      cv.LINE_AA,
    );
  for (const r of front) img.drawCircle(pt(r.fps, accuracyOf(r, metric)), 5, bgr(210, 40, 40), -1, cv.LINE_AA);
  if (recommended) {
    const p = pt(recommended.fps, accuracyOf(recommended, metric));
    img.drawCircle(p, 10, bgr(20, 150, 40), 2, cv.LINE_AA);
    text('recommended', Math.min(p.x + 12, L.width - 120), Math.max(p.y - 10, MARGIN.top + 12), 0.45, bgr(20, 150, 40));
  }
  text('grey: candidates   red: Pareto front', L.width - 330, 30, 0.45);
  cv.imwrite(path, img);
}

/** Round numbers for an axis from lo to hi, about five of them. */
export function ticks(lo: number, hi: number): number[] {
  const step = niceStep((hi - lo) / 5);
  const out: number[] = [];
  for (let t = Math.ceil(lo / step) * step; t <= hi + step * 1e-9; t += step) out.push(Number(t.toFixed(10)));
  return out;
}

function niceStep(raw: number): number {
  const p = 10 ** Math.floor(Math.log10(raw));
  const f = raw / p;
  return (f <= 1 ? 1 : f <= 2 ? 2 : f <= 5 ? 5 : 10) * p;
}

function niceCeil(x: number): number {
  const step = niceStep(x / 5);
  return Math.ceil(x / step) * step;
}

function fmtTick(t: number): string {
  return Number.isInteger(t) ? String(t) : t.toFixed(1);
}
