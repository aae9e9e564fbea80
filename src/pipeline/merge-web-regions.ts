// Line-scan: tile maps back into the web map; each tile's result carries the regions that became
// final with it (web coordinates), so every defect is reported once. Results leave one tile
// late: when the web ends, the regions still open go out with the last tile.
import { Observable, type OperatorFunction } from 'rxjs';
import type { ScoredFrame } from '../core/frame.js';
import type { WebMapMerger } from '../linescan/web-map.js';

/** `createMerger` runs at the first tile, once the web's width is known. */
export function mergeWebRegions<T extends ScoredFrame>(createMerger: () => WebMapMerger): OperatorFunction<T, T> {
  return (source) =>
    new Observable<T>((subscriber) => {
      let held: T | undefined;
      let merger: WebMapMerger | undefined;
      return source.subscribe({
        next: (f) => {
          merger ??= createMerger();
          const p = f.position;
          const regions = merger.add({ row: p.tileRow ?? 0, col: p.tileCol ?? 0, line: p.line ?? 0, x: p.x ?? 0 }, f.map());
          if (held) subscriber.next(held);
          held = { ...f, regions };
        },
        error: (e) => subscriber.error(e),
        complete: () => {
          if (held) subscriber.next({ ...held, regions: [...held.regions, ...(merger?.flush() ?? [])] });
          subscriber.complete();
        },
      });
    });
}
