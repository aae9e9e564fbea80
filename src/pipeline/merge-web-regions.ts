// Line-scan: tile maps back into the web map; each tile's result carries the regions that became
// final with it (web coordinates), so every defect is reported once. Results leave one tile
// late: when the web ends, the regions still open go out with the last tile. The merging runs
// where `createWebMap` puts it (the pixel worker in the service).
import { Observable, type OperatorFunction } from 'rxjs';
import type { DefectRegion, ScoredFrame } from '../core/frame.js';

export interface WebMap {
  add(
    tile: { row: number; col: number; line: number; x: number },
    map: Float32Array,
    threshold: number,
  ): Promise<DefectRegion[]> | DefectRegion[];
  flush(threshold: number): Promise<DefectRegion[]> | DefectRegion[];
}

/** `createWebMap` runs at the first tile, once the web's width is known; `threshold` is read per tile (banks reload). */
export function mergeWebRegions<T extends ScoredFrame>(createWebMap: () => WebMap, threshold: () => number): OperatorFunction<T, T> {
  return (source) =>
    new Observable<T>((subscriber) => {
      let held: T | undefined;
      let webMap: WebMap | undefined;
      // Tiles are merged one at a time, in order.
      let chain: Promise<void> = Promise.resolve();
      const then = (step: () => Promise<void>) => {
        chain = chain.then(step).catch((e: unknown) => subscriber.error(e));
      };
      const sub = source.subscribe({
        next: (f) =>
          then(async () => {
            webMap ??= createWebMap();
            const p = f.position;
            const regions = await webMap.add(
              { row: p.tileRow ?? 0, col: p.tileCol ?? 0, line: p.line ?? 0, x: p.x ?? 0 },
              f.map(),
              threshold(),
            );
            if (held) subscriber.next(held);
            held = { ...f, regions };
          }),
        error: (e) => then(async () => subscriber.error(e)),
        complete: () =>
          then(async () => {
            if (held) subscriber.next({ ...held, regions: [...held.regions, ...(webMap ? await webMap.flush(threshold()) : [])] });
            subscriber.complete();
          }),
      });
      return () => sub.unsubscribe();
    });
}
