// Line-scan tiling: an endless web arrives as chunks of lines; the model wants fixed-size frames.
// Tiles overlap by `overlap` pixels along the web and across it, so every defect lies whole
// inside at least one tile; WebMapMerger puts their maps back together.
import type { LineChunk } from '../core/frame.js';
import type { Image8 } from '../core/image.js';

export interface TileGeometry {
  webWidth: number;
  tileWidth: number;
  tileHeight: number;
  overlap: number;
}

export interface Tile {
  row: number;
  col: number;
  /** Web line of the tile's first row. */
  line: number;
  x: number;
  image: Image8;
  /** Timestamp of the chunk that completed the tile. */
  timestamp: number;
}

/** Errors name the config fields they come from (source.width or the camera, linescan.overlap). */
export function validateGeometry(g: TileGeometry): void {
  if (g.webWidth < g.tileWidth)
    throw new RangeError(`source width: web width ${g.webWidth} is narrower than the model's tile width ${g.tileWidth}`);
  if (g.overlap < 0 || g.overlap >= Math.min(g.tileWidth, g.tileHeight))
    throw new RangeError(`linescan.overlap: ${g.overlap} must be in [0, ${Math.min(g.tileWidth, g.tileHeight)})`);
}

/** Left edges of the tile columns: step tileWidth - overlap, the last one flush with the web's right edge. */
export function tileColumns(g: TileGeometry): number[] {
  const step = g.tileWidth - g.overlap;
  const xs: number[] = [];
  for (let x = 0; x + g.tileWidth < g.webWidth; x += step) xs.push(x);
  xs.push(g.webWidth - g.tileWidth);
  return [...new Set(xs)];
}

export class WebTiler {
  private readonly columns: number[];
  private readonly step: number;
  /** Rows kept, starting at web line `bufferLine`. */
  private buffer = new Uint8Array(0);
  private bufferLine = 0;
  private bufferRows = 0;
  private nextRow = 0;
  private expectedLine = 0;

  constructor(readonly geometry: TileGeometry) {
    validateGeometry(geometry);
    this.columns = tileColumns(geometry);
    this.step = geometry.tileHeight - geometry.overlap;
  }

  get columnCount(): number {
    return this.columns.length;
  }

  /** Adds a chunk; returns the tiles it completes, row by row, left to right. */
  push(chunk: LineChunk): Tile[] {
    const { webWidth, tileWidth, tileHeight } = this.geometry;
    if (chunk.width !== webWidth) throw new RangeError(`line chunk ${chunk.seq} is ${chunk.width} px wide, the web is ${webWidth}`);
    if (chunk.firstLine !== this.expectedLine)
      throw new RangeError(
        `line chunk ${chunk.seq} starts at line ${chunk.firstLine}, expected ${this.expectedLine} (lines lost or repeated)`,
      );
    if (chunk.data.length !== chunk.lines * webWidth * 3)
      throw new RangeError(`line chunk ${chunk.seq} has ${chunk.data.length} bytes for ${chunk.lines} RGB lines of ${webWidth} px`);
    this.expectedLine += chunk.lines;
    const rowBytes = webWidth * 3;
    const grown = new Uint8Array((this.bufferRows + chunk.lines) * rowBytes);
    grown.set(this.buffer.subarray(0, this.bufferRows * rowBytes));
    grown.set(chunk.data, this.bufferRows * rowBytes);
    this.buffer = grown;
    this.bufferRows += chunk.lines;
    const tiles: Tile[] = [];
    for (;;) {
      const top = this.nextRow * this.step;
      if (top + tileHeight > this.bufferLine + this.bufferRows) break;
      const offset = top - this.bufferLine;
      this.columns.forEach((x, col) => {
        const data = new Uint8Array(tileWidth * tileHeight * 3);
        for (let y = 0; y < tileHeight; y++)
          data.set(this.buffer.subarray((offset + y) * rowBytes + x * 3, (offset + y) * rowBytes + (x + tileWidth) * 3), y * tileWidth * 3);
        tiles.push({
          row: this.nextRow,
          col,
          line: top,
          x,
          image: { width: tileWidth, height: tileHeight, channels: 3, data },
          timestamp: chunk.timestamp,
        });
      });
      this.nextRow++;
      // Rows above the next tile's top are not needed any more.
      const drop = Math.max(0, this.nextRow * this.step - this.bufferLine);
      this.buffer = this.buffer.slice(drop * rowBytes, this.bufferRows * rowBytes);
      this.bufferRows -= drop;
      this.bufferLine += drop;
    }
    return tiles;
  }
}
