// The last lines of a line-scan web as the service saw them (RGB, and the anomaly map), in a
// ring buffer filled from tiles: gallery crops of defects come from here, and the page's web
// strip is a scaled copy. RGB rows are copied whole (tiles agree where they overlap); maps of
// overlapping tiles differ near their borders, so the display map keeps the larger value (a
// defect at a tile border is never cut in half).
import type { Image8 } from '../core/image.js';

export class RollingWeb {
  private readonly rgb: Uint8Array;
  private readonly map: Float32Array;
  /** Web lines [start, end) are held. */
  private start = 0;
  private end = 0;

  constructor(
    readonly webWidth: number,
    readonly capacity: number,
  ) {
    this.rgb = new Uint8Array(webWidth * capacity * 3);
    this.map = new Float32Array(webWidth * capacity);
  }

  get firstLine(): number {
    return this.start;
  }

  get lastLine(): number {
    return this.end;
  }

  /** A tile (RGB, with its map) at web line `line`, column `x`. Tiles come in web order. */
  add(tile: Image8, map: Float32Array | undefined, line: number, x: number): void {
    const w = tile.width;
    if (tile.channels !== 3 || x + w > this.webWidth) return;
    for (let y = 0; y < tile.height; y++) {
      const l = line + y;
      if (l < this.end - this.capacity) continue;
      if (l >= this.end) this.extend(l + 1);
      const row = (l % this.capacity) * this.webWidth;
      this.rgb.set(tile.data.subarray(y * w * 3, (y + 1) * w * 3), (row + x) * 3);
      if (map) {
        const to = row + x;
        for (let i = 0, from = y * w; i < w; i++, from++) if (map[from]! > this.map[to + i]!) this.map[to + i] = map[from]!;
      }
    }
  }

  private extend(end: number): void {
    for (let l = Math.max(this.end, end - this.capacity); l < end; l++) {
      const row = (l % this.capacity) * this.webWidth;
      this.rgb.fill(0, row * 3, (row + this.webWidth) * 3);
      this.map.fill(0, row, row + this.webWidth);
    }
    this.end = end;
    this.start = Math.max(this.start, end - this.capacity);
  }

  /** Lines [line, line + height) x columns [x, x + width), clamped to the web and to what is held. */
  window(line: number, x: number, width: number, height: number): { image: Image8; map: Float32Array; line: number; x: number } {
    const x0 = Math.max(0, Math.min(x, this.webWidth - width));
    const w = Math.min(width, this.webWidth);
    const l0 = Math.max(this.start, Math.min(line, this.end - height));
    const h = Math.max(0, Math.min(height, this.end - l0));
    const image = new Uint8Array(w * h * 3);
    const map = new Float32Array(w * h);
    for (let y = 0; y < h; y++) {
      const row = ((l0 + y) % this.capacity) * this.webWidth;
      image.set(this.rgb.subarray((row + x0) * 3, (row + x0 + w) * 3), y * w * 3);
      map.set(this.map.subarray(row + x0, row + x0 + w), y * w);
    }
    return { image: { width: w, height: h, channels: 3, data: image }, map, line: l0, x: x0 };
  }

  /** Everything held, oldest line first. */
  snapshot(): { image: Image8; firstLine: number } {
    return { image: this.window(this.start, 0, this.webWidth, this.end - this.start).image, firstLine: this.start };
  }
}
