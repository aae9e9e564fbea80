// Several line-scan cameras side by side over one web: where each looks across the web (mm), the
// strips two neighbours both see, and the part each camera answers for. Neighbours overlap so a
// defect on a seam lies whole inside one camera's view; the strip's midpoint splits the
// answering, so every point of the web belongs to exactly one camera.

export interface CameraPlacement {
  id: string;
  /** Cross-direction position of the camera's first pixel, mm from the web's reference edge. */
  offsetMm: number;
  /** Pixel pitch across the web. */
  mmPerPixel: number;
  /** Pixels per line. */
  widthPx: number;
}

export interface CameraSpan extends CameraPlacement {
  /** What the camera sees: [startMm, endMm) across the web. */
  startMm: number;
  endMm: number;
  /** What it answers for: [ownStartMm, ownEndMm), the web split at the midpoints of the overlaps. */
  ownStartMm: number;
  ownEndMm: number;
}

export interface OverlapStrip {
  left: string;
  right: string;
  startMm: number;
  endMm: number;
}

export interface WebLayout {
  /** Left to right. */
  cameras: CameraSpan[];
  overlaps: OverlapStrip[];
  /** Strips between neighbours that no camera sees. */
  gaps: { left: string; right: string; startMm: number; endMm: number }[];
}

/** A layout error naming the entry of `cameras` and the field. */
class CameraLayoutError extends RangeError {
  constructor(index: number, field: string | undefined, detail: string) {
    super(`cameras[${index}]${field ? `.${field}` : ''}: ${detail}`);
  }
}

/**
 * Orders the cameras across the web and derives overlaps, gaps and owned parts. Errors name the
 * camera's config entry (`cameras[i]`) and the field.
 */
export function webLayout(placements: CameraPlacement[]): WebLayout {
  if (placements.length === 0) throw new RangeError('cameras: at least one camera');
  const seen = new Map<string, number>();
  placements.forEach((p, i) => {
    const before = seen.get(p.id);
    if (before !== undefined) throw new CameraLayoutError(i, 'id', `'${p.id}' is also cameras[${before}]'s id`);
    seen.set(p.id, i);
    if (!Number.isFinite(p.offsetMm)) throw new CameraLayoutError(i, 'offsetMm', `${p.offsetMm} is not a number`);
    if (!(p.mmPerPixel > 0)) throw new CameraLayoutError(i, 'mmPerPixel', `${p.mmPerPixel} must be > 0`);
    if (!(Number.isInteger(p.widthPx) && p.widthPx > 0))
      throw new CameraLayoutError(i, 'widthPx', `${p.widthPx} must be a whole number > 0`);
  });
  const index = new Map(placements.map((p, i) => [p.id, i]));
  const spans = placements
    .map((p) => ({ ...p, startMm: p.offsetMm, endMm: p.offsetMm + p.widthPx * p.mmPerPixel, ownStartMm: 0, ownEndMm: 0 }))
    .sort((a, b) => a.startMm - b.startMm || a.endMm - b.endMm);
  const overlaps: OverlapStrip[] = [];
  const gaps: WebLayout['gaps'] = [];
  for (let k = 0; k < spans.length; k++) {
    const c = spans[k]!;
    const name = (s: CameraSpan) => `cameras[${index.get(s.id)}] ('${s.id}')`;
    const at = index.get(c.id)!;
    const left = spans[k - 1];
    if (left && c.endMm <= left.endMm)
      throw new CameraLayoutError(
        at,
        undefined,
        `('${c.id}') sees only what ${name(left)} sees (${c.startMm}-${c.endMm} mm inside ${left.startMm}-${left.endMm} mm)`,
      );
    // A third camera reaching into the left neighbour's left neighbour would make strips that
    // three cameras see; the answering split assumes two.
    const leftLeft = spans[k - 2];
    if (leftLeft && c.startMm < leftLeft.endMm)
      throw new CameraLayoutError(
        at,
        'offsetMm',
        `('${c.id}') starts at ${c.startMm} mm, inside ${name(leftLeft)} (ends at ${leftLeft.endMm} mm): at most two cameras may see any part of the web`,
      );
    if (!left) {
      c.ownStartMm = -Infinity;
      continue;
    }
    if (c.startMm < left.endMm) {
      overlaps.push({ left: left.id, right: c.id, startMm: c.startMm, endMm: left.endMm });
      left.ownEndMm = c.ownStartMm = (c.startMm + left.endMm) / 2;
    } else {
      if (c.startMm > left.endMm) gaps.push({ left: left.id, right: c.id, startMm: left.endMm, endMm: c.startMm });
      left.ownEndMm = c.ownStartMm = c.startMm;
    }
  }
  spans.at(-1)!.ownEndMm = Infinity;
  return { cameras: spans, overlaps, gaps };
}

/** Cross-direction web position (mm) of pixel `x` of a camera. */
export function acrossMm(camera: CameraPlacement, x: number): number {
  return camera.offsetMm + x * camera.mmPerPixel;
}

/** The cameras that see any part of [startMm, endMm) across the web, left to right. */
export function camerasSeeing(layout: WebLayout, startMm: number, endMm: number): CameraSpan[] {
  return layout.cameras.filter((c) => c.startMm < endMm && startMm < c.endMm);
}

/** The camera that answers for cross-direction position `mm`. */
export function ownerAt(layout: WebLayout, mm: number): CameraSpan {
  return layout.cameras.find((c) => mm >= c.ownStartMm && mm < c.ownEndMm) ?? layout.cameras.at(-1)!;
}

/**
 * The whole web as one image (the operator page's strip), drawn at the first camera's pitch:
 * each camera's pixels start at `x0(camera)`; a position in mm maps to `x(mm)`. Cameras of
 * another pitch are placed by position, not rescaled.
 */
export function webCanvas(layout: WebLayout): { widthPx: number; x0(camera: string): number; x(mm: number): number } {
  const first = layout.cameras[0]!;
  const pitch = first.mmPerPixel;
  const x = (mm: number) => Math.round((mm - first.startMm) / pitch);
  const starts = new Map(layout.cameras.map((c) => [c.id, x(c.startMm)]));
  const widthPx = Math.max(...layout.cameras.map((c) => starts.get(c.id)! + c.widthPx));
  return { widthPx, x0: (camera) => starts.get(camera) ?? 0, x };
}
