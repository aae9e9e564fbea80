// Puts the anomaly maps of overlapping line-scan tiles back into one web map and reports each
// defect once, at its web position. Overlaps are cross-faded (weights ramp linearly across the
// shared pixels and sum to 1), so no seam appears. Lines are final once no later tile covers
// them; regions still touching the newest final line wait for the next lines, so a defect cut
// by a tile boundary comes out as one region.
import type { DefectRegion } from '../core/frame.js';
import { findRegions, publicRegion } from '../imaging/defect-regions.js';
import { tileColumns, type TileGeometry } from './web-tiler.js';

interface Row {
  sum: Float32Array;
  weight: Float32Array;
  /** Pixels already reported in a region. */
  used: Uint8Array;
}

export interface WebScale {
  mmPerLine: number;
  mmPerPixel: number;
  /** A region still open after this many lines is reported as a segment (default: no limit). */
  maxRegionLines?: number;
}

export class WebMapMerger {
  private readonly rows = new Map<number, Row>();
  private readonly columns: number[];
  private readonly step: number;
  private readonly received = new Map<number, number>();
  /** Lines below this are final. */
  private finalEnd = 0;
  /** First line the next region search starts from (regions deferred across the last final line). */
  private searchFrom = 0;

  constructor(
    readonly geometry: TileGeometry,
    /** A number, or a function read at each region search (the bank may be reloaded). */
    private readonly threshold: number | (() => number),
    private readonly minArea: number,
    private readonly scale: WebScale = { mmPerLine: 0, mmPerPixel: 0 },
  ) {
    this.columns = tileColumns(geometry);
    this.step = geometry.tileHeight - geometry.overlap;
  }

  /** Every region whose top is above this web line has been returned (later ones may still grow). */
  get reportedBefore(): number {
    return this.searchFrom;
  }

  private row(line: number): Row {
    let r = this.rows.get(line);
    if (!r) {
      const w = this.geometry.webWidth;
      r = { sum: new Float32Array(w), weight: new Float32Array(w), used: new Uint8Array(w) };
      this.rows.set(line, r);
    }
    return r;
  }

  /** Cross-fade weights of one tile axis: ramps over the pixels shared with the neighbours. */
  private static ramp(length: number, before: number, after: number): Float32Array {
    const w = new Float32Array(length).fill(1);
    for (let i = 0; i < before; i++) w[i] = (i + 0.5) / before;
    for (let i = 0; i < after; i++) w[length - 1 - i] = Math.min(w[length - 1 - i]!, (i + 0.5) / after);
    return w;
  }

  /**
   * Adds the map [tileHeight, tileWidth] of tile (row, col). Tiles must come row by row (any
   * column order within a row). Returns the regions that became final.
   */
  add(tile: { row: number; col: number; line: number; x: number }, map: Float32Array): DefectRegion[] {
    const { tileWidth, tileHeight, overlap } = this.geometry;
    const j = tile.col;
    const left = j > 0 ? this.columns[j - 1]! + tileWidth - tile.x : 0;
    const right = j < this.columns.length - 1 ? tile.x + tileWidth - this.columns[j + 1]! : 0;
    const wx = WebMapMerger.ramp(tileWidth, left, right);
    const wy = WebMapMerger.ramp(tileHeight, tile.row > 0 ? overlap : 0, overlap);
    for (let y = 0; y < tileHeight; y++) {
      const r = this.row(tile.line + y);
      for (let x = 0; x < tileWidth; x++) {
        const w = wy[y]! * wx[x]!;
        r.sum[tile.x + x]! += w * map[y * tileWidth + x]!;
        r.weight[tile.x + x]! += w;
      }
    }
    const got = (this.received.get(tile.line) ?? 0) + 1;
    this.received.set(tile.line, got);
    if (got < this.columns.length) return [];
    this.received.delete(tile.line);
    // The next tile row starts one step lower: lines above it get no more contributions.
    this.finalEnd = tile.line + this.step;
    return this.collect(false);
  }

  /** End of the web: every covered line is final. */
  flush(): DefectRegion[] {
    const lines = [...this.rows.keys()];
    if (lines.length === 0) return [];
    this.finalEnd = Math.max(...lines) + 1;
    return this.collect(true);
  }

  private collect(atEnd: boolean): DefectRegion[] {
    const width = this.geometry.webWidth;
    const from = this.searchFrom;
    const height = this.finalEnd - from;
    if (height <= 0) return [];
    const map = new Float32Array(width * height);
    const used = new Uint8Array(width * height);
    for (let y = 0; y < height; y++) {
      const r = this.rows.get(from + y);
      if (!r) continue;
      for (let x = 0; x < width; x++) map[y * width + x] = r.weight[x]! > 0 ? r.sum[x]! / r.weight[x]! : 0;
      used.set(r.used, y * width);
    }
    const out: DefectRegion[] = [];
    let deferFrom = this.finalEnd;
    const threshold = typeof this.threshold === 'function' ? this.threshold() : this.threshold;
    const limit = this.scale.maxRegionLines ?? Infinity;
    const { regions, labels, count } = findRegions(map, width, height, threshold, this.minArea, used);
    const reported = new Uint8Array(count);
    for (const reg of regions) {
      const open = reg.touchesBottom && !atEnd;
      if (open && this.finalEnd - (from + reg.box.y) < limit) {
        deferFrom = Math.min(deferFrom, from + reg.box.y);
        continue;
      }
      if (reg.area < this.minArea) continue;
      reported[reg.label] = 1;
      const box = { ...reg.box, y: from + reg.box.y };
      const withScale =
        this.scale.mmPerLine > 0 || this.scale.mmPerPixel > 0
          ? { mm: { along: box.y * this.scale.mmPerLine, across: box.x * this.scale.mmPerPixel } }
          : {};
      out.push({
        ...publicRegion(reg),
        box,
        peak: { ...reg.peak, y: from + reg.peak.y },
        ...withScale,
        ...(open ? { continues: true } : {}),
      });
    }
    // Pixels of reported regions are not reported again by a later, overlapping search.
    for (let y = 0, i = 0; y < height; y++) {
      const row = this.rows.get(from + y);
      for (let x = 0; x < width; x++, i++) if (row && reported[labels[i]!]) row.used[x] = 1;
    }
    this.searchFrom = deferFrom;
    for (const line of [...this.rows.keys()]) if (line < this.searchFrom) this.rows.delete(line);
    return out.sort((a, b) => a.box.y - b.box.y || a.box.x - b.box.x);
  }
}
