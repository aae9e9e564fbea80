// Line chunks -> tiles as frames. A chunk that does not fit (wrong width, lines missing) is
// counted and the tiling restarts at the next chunk, so a glitch never stops the stream.
import { mergeMap, type OperatorFunction } from 'rxjs';
import type { Frame, LineChunk } from '../core/frame.js';
import { WebTiler, type TileGeometry } from '../linescan/web-tiler.js';

/** A `geometry.webWidth` of 0 is set from the first chunk (cameras whose width is not configured). */
export function tileWeb(
  geometry: TileGeometry,
  hooks: { onBadChunk(chunk: LineChunk, e: Error): void; onLines(n: number): void },
): OperatorFunction<LineChunk, Frame> {
  return (source) => {
    let tiler: WebTiler | undefined;
    let seq = 0;
    let offset = 0;
    return source.pipe(
      mergeMap((chunk) => {
        hooks.onLines(chunk.lines);
        if (geometry.webWidth === 0) geometry.webWidth = chunk.width;
        tiler ??= new WebTiler(geometry);
        let tiles;
        try {
          tiles = tiler.push({ ...chunk, firstLine: chunk.firstLine - offset });
        } catch (e) {
          hooks.onBadChunk(chunk, e as Error);
          if (chunk.width !== geometry.webWidth) return [];
          // Lines were lost: start a new tiling at this chunk.
          tiler = new WebTiler(geometry);
          offset = chunk.firstLine;
          tiles = tiler.push({ ...chunk, firstLine: 0 });
        }
        const lastCol = tiler.columnCount - 1;
        return tiles.map((t): Frame => ({
          seq: seq++,
          timestamp: t.timestamp,
          image: t.image,
          position: { line: t.line + offset, x: t.x, tileRow: t.row, tileCol: t.col },
          endsRow: t.col === lastCol,
          latency: {},
        }));
      }),
    );
  };
}
