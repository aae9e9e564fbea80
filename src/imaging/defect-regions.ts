// Defect regions: connected areas of an anomaly map at or above the threshold, with box, area
// and peak. One pass over the labels collects every region's statistics: no per-region pixel
// lists, so a region covering the whole map costs no more than a small one.
import type { DefectRegion } from '../core/frame.js';
import { labelRegions } from './connected-regions.js';

export interface RawRegion extends DefectRegion {
  /** Whether the region touches the map's last row (line-scan: may continue in later lines). */
  touchesBottom: boolean;
  /** The region's label in `labels` (RegionSearch). */
  label: number;
}

export interface RegionSearch {
  regions: RawRegion[];
  /** [height * width] region label per pixel (0: not part of any region). */
  labels: Int32Array;
  /** Labels in use, 1..count-1 (regions below minArea included). */
  count: number;
}

/** Regions of `map` [height, width] where map >= threshold and not excluded. */
export function findRegions(
  map: Float32Array,
  width: number,
  height: number,
  threshold: number,
  minArea: number,
  exclude?: Uint8Array,
): RegionSearch {
  const hot = new Uint8Array(width * height);
  for (let i = 0; i < hot.length; i++) hot[i] = map[i]! >= threshold && !exclude?.[i] ? 1 : 0;
  const { labels, sizes } = labelRegions(hot, width, height);
  const n = sizes.length;
  const minX = new Int32Array(n).fill(width);
  const minY = new Int32Array(n).fill(height);
  const maxX = new Int32Array(n).fill(-1);
  const maxY = new Int32Array(n).fill(-1);
  const peak = new Float32Array(n).fill(-Infinity);
  const peakAt = new Int32Array(n);
  const bottom = new Uint8Array(n);
  for (let y = 0, i = 0; y < height; y++) {
    for (let x = 0; x < width; x++, i++) {
      const r = labels[i]!;
      if (r === 0) continue;
      if (x < minX[r]!) minX[r] = x;
      if (x > maxX[r]!) maxX[r] = x;
      if (y < minY[r]!) minY[r] = y;
      maxY[r] = y;
      if (map[i]! > peak[r]!) {
        peak[r] = map[i]!;
        peakAt[r] = i;
      }
    }
  }
  for (let x = 0, i = (height - 1) * width; height > 0 && x < width; x++, i++) bottom[labels[i]!] = 1;
  const regions: RawRegion[] = [];
  for (let r = 1; r < n; r++) {
    const area = sizes[r]!;
    const touchesBottom = bottom[r] === 1;
    if (area < minArea && !touchesBottom) continue;
    const p = peakAt[r]!;
    regions.push({
      label: r,
      box: { x: minX[r]!, y: minY[r]!, width: maxX[r]! - minX[r]! + 1, height: maxY[r]! - minY[r]! + 1 },
      area,
      peak: { x: p % width, y: Math.floor(p / width), score: peak[r]! },
      touchesBottom,
    });
  }
  return { regions, labels, count: n };
}

export function publicRegion(r: RawRegion): DefectRegion {
  return { box: r.box, area: r.area, peak: r.peak, ...(r.mm ? { mm: r.mm } : {}) };
}
