// Several cameras over one web: each camera's tile maps go back into its own web map (as with
// one camera), then the cameras' regions are merged in web mm (linescan/overlap-merge.ts) so a
// defect two cameras see is reported once. A defect goes out with the next result of the camera
// answering for it; each camera's results leave one tile late, as with one camera.
import { Observable, type OperatorFunction } from 'rxjs';
import type { DefectRegion, ScoredFrame } from '../core/frame.js';
import type { WebLayout } from '../linescan/camera-layout.js';
import { cameraRegion, OverlapMerger, type WebDefect } from '../linescan/overlap-merge.js';
import type { WebMap } from './merge-web-regions.js';

export interface CameraWebMap extends WebMap {
  /** Every region whose top is above this web line has been returned. */
  reportedBefore(): Promise<number> | number;
}

export interface CameraWebsOptions {
  layout: WebLayout;
  mmPerLine: number;
  /** Regions of two cameras closer than this (mm) are one defect. */
  toleranceMm: number;
  createWebMap: (camera: string) => CameraWebMap;
  /** A camera's threshold, read per tile (banks reload; a camera may have its own bank). */
  threshold: (camera: string) => number;
  /** Cameras going down and coming back (a camera that is down is not waited for). */
  cameraState?: Observable<{ camera: string; up: boolean }>;
}

/** The region a result carries: the answering camera's own region, with the merged web box. */
export function webDefectRegion(d: WebDefect): DefectRegion {
  const own = d.members.find((m) => m.camera === d.camera && m.region) ?? d.members.find((m) => m.region);
  const base: DefectRegion = own?.region ?? {
    box: { x: 0, y: 0, width: 0, height: 0 },
    area: 0,
    peak: { x: 0, y: 0, score: d.peak.score },
  };
  return {
    ...base,
    peak: { ...base.peak, score: d.peak.score },
    mm: { along: d.alongMm, across: d.acrossMm },
    web: { alongMm: d.alongMm, acrossMm: d.acrossMm, lengthMm: d.lengthMm, widthMm: d.widthMm, seenBy: d.seenBy },
    ...(d.continues ? { continues: true } : {}),
  };
}

export function mergeCameraWebs<T extends ScoredFrame>(opts: CameraWebsOptions): OperatorFunction<T, T> {
  const { layout, mmPerLine } = opts;
  return (source) =>
    new Observable<T>((subscriber) => {
      const overlap = new OverlapMerger(layout, opts.toleranceMm);
      const maps = new Map<string, CameraWebMap>();
      const held = new Map<string, T>();
      const outbox = new Map<string, WebDefect[]>(layout.cameras.map((c) => [c.id, []]));
      const down = new Set<string>();
      const placement = new Map(layout.cameras.map((c) => [c.id, c]));
      let chain: Promise<void> = Promise.resolve();
      const then = (step: () => Promise<void>) => {
        chain = chain.then(step).catch((e: unknown) => subscriber.error(e));
      };
      // The answering camera, or another that saw it (or any camera) while it is down.
      const deliver = (defects: WebDefect[]) => {
        for (const d of defects) {
          const live = [d.camera, ...d.seenBy, ...layout.cameras.map((c) => c.id)].find((c) => !down.has(c)) ?? d.camera;
          outbox.get(live)!.push(d);
        }
      };
      const emit = (camera: string) => {
        const f = held.get(camera);
        if (!f) return;
        held.delete(camera);
        const defects = outbox.get(camera)!.splice(0);
        subscriber.next({ ...f, regions: defects.map(webDefectRegion) });
      };
      const stateSub = opts.cameraState?.subscribe(({ camera, up }) =>
        then(async () => {
          if (!placement.has(camera)) return;
          if (up) down.delete(camera);
          else down.add(camera);
          deliver(overlap.setDown(camera, !up));
          if (!up) {
            // Its last result goes now, and what waited for it goes to the cameras still running.
            deliver(outbox.get(camera)!.splice(0));
            emit(camera);
          }
        }),
      );
      const sub = source.subscribe({
        next: (f) =>
          then(async () => {
            const camera = f.camera;
            const placed = camera === undefined ? undefined : placement.get(camera);
            if (!camera || !placed) throw new Error(`merge of camera webs: a tile of unknown camera '${camera}'`);
            let webMap = maps.get(camera);
            if (!webMap) maps.set(camera, (webMap = opts.createWebMap(camera)));
            const p = f.position;
            const regions = await webMap.add(
              { row: p.tileRow ?? 0, col: p.tileCol ?? 0, line: p.line ?? 0, x: p.x ?? 0 },
              f.map(),
              opts.threshold(camera),
            );
            const before = await webMap.reportedBefore();
            deliver(
              overlap.add(
                camera,
                regions.map((r) => cameraRegion(placed, r, mmPerLine)),
                before * mmPerLine,
              ),
            );
            emit(camera);
            held.set(camera, f);
          }),
        error: (e) => then(async () => subscriber.error(e)),
        complete: () =>
          then(async () => {
            for (const [camera, webMap] of maps) {
              const regions = await webMap.flush(opts.threshold(camera));
              deliver(
                overlap.add(
                  camera,
                  regions.map((r) => cameraRegion(placement.get(camera)!, r, mmPerLine)),
                  Infinity,
                ),
              );
            }
            deliver(overlap.flush());
            // Defects of a camera with no result left ride on another camera's last one.
            const last = [...held.keys()];
            for (const [camera, defects] of outbox)
              if (!held.has(camera) && defects.length > 0 && last.length > 0) outbox.get(last[0]!)!.push(...defects.splice(0));
            for (const camera of last) emit(camera);
            subscriber.complete();
          }),
      });
      return () => {
        sub.unsubscribe();
        stateSub?.unsubscribe();
      };
    });
}
