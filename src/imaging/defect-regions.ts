// Defect regions: connected areas of an anomaly map at or above the threshold, with box, area
// and peak.
import type { DefectRegion } from '../core/frame.js';
import { labelRegions } from './connected-regions.js';

export interface RawRegion extends DefectRegion {
  /** Whether the region touches the map's last row (line-scan: may continue in later lines). */
  touchesBottom: boolean;
  /** Pixel indices of the region in the map (row-major). */
  pixels: number[];
}

/** Regions of `map` [height, width] where map >= threshold and not excluded. */
export function findRegions(
  map: Float32Array,
  width: number,
  height: number,
  threshold: number,
  minArea: number,
  exclude?: Uint8Array,
): RawRegion[] {
  const hot = new Uint8Array(width * height);
  for (let i = 0; i < hot.length; i++) hot[i] = map[i]! >= threshold && !exclude?.[i] ? 1 : 0;
  const { labels, sizes } = labelRegions(hot, width, height);
  const regions: RawRegion[] = sizes.map(() => ({
    box: { x: Infinity, y: Infinity, width: 0, height: 0 },
    area: 0,
    peak: { x: 0, y: 0, score: -Infinity },
    touchesBottom: false,
    pixels: [],
  }));
  const maxX = new Int32Array(sizes.length).fill(-1);
  const maxY = new Int32Array(sizes.length).fill(-1);
  for (let i = 0; i < labels.length; i++) {
    const r = labels[i]!;
    if (r === 0) continue;
    const reg = regions[r]!;
    const x = i % width;
    const y = (i - x) / width;
    reg.pixels.push(i);
    reg.area++;
    reg.box.x = Math.min(reg.box.x, x);
    reg.box.y = Math.min(reg.box.y, y);
    maxX[r] = Math.max(maxX[r]!, x);
    maxY[r] = Math.max(maxY[r]!, y);
    if (y === height - 1) reg.touchesBottom = true;
    if (map[i]! > reg.peak.score) reg.peak = { x, y, score: map[i]! };
  }
  return regions
    .map((reg, r) => ({ ...reg, box: { ...reg.box, width: maxX[r]! - reg.box.x + 1, height: maxY[r]! - reg.box.y + 1 } }))
    .filter((reg, r) => r > 0 && (reg.area >= minArea || reg.touchesBottom));
}

export function publicRegion(r: RawRegion): DefectRegion {
  return { box: r.box, area: r.area, peak: r.peak, ...(r.mm ? { mm: r.mm } : {}) };
}
