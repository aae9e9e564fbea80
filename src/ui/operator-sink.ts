// The operator page as one more consumer of scored frames: the score timeline, the line-scan
// web (for the strip and for defect crops), the live tile and the defect gallery. handle()
// never waits: encoding and disk writes run beside the pipeline, bounded; what does not fit is
// dropped and counted, never queued without end.
import type { DefectRegion, ScoredFrame } from '../core/frame.js';
import { encodeImage } from '../imaging/encode.js';
import { overlayJpeg } from '../imaging/overlay.js';
import type { ResultSink, ScoredResult } from '../publish/result-sink.js';
import type { GalleryStore } from './gallery-store.js';
import type { LiveHub } from './live-hub.js';
import type { GalleryItem } from './protocol.js';
import type { RollingWeb } from './rolling-web.js';
import type { Timeline } from './timeline.js';

/** Gallery items being written at once; beyond it new ones are dropped (a slow disk). */
const MAX_SAVES = 4;

export interface OperatorSinkDeps {
  hub: LiveHub;
  gallery: GalleryStore;
  timeline: Timeline;
  /** Line-scan only: the recent web, and the tile size (defect crops are one tile). */
  web?: RollingWeb;
  tile: { width: number; height: number };
  /** Several cameras over one web: where each camera's pixels and a web position (mm) lie on the strip. */
  canvas?: { x0(camera: string): number; x(mm: number): number };
  onDrop(kind: string): void;
  log: (s: string) => void;
}

export class OperatorSink implements ResultSink {
  readonly name = 'operator page';
  private encoding = false;
  private saves = 0;
  private pending: Promise<unknown>[] = [];
  /** Line-scan defects still in the strip's lines. */
  private recentRegions: DefectRegion[] = [];

  constructor(private readonly d: OperatorSinkDeps) {}

  handle({ frame: f }: ScoredResult): void {
    this.d.timeline.add(f.score, f.isAnomaly);
    const web = this.d.web;
    const canvas = this.d.canvas;
    const x0 = canvas && f.camera !== undefined ? canvas.x0(f.camera) : 0;
    if (web && f.position.line !== undefined) web.add(f.view, f.map(), f.position.line, x0 + (f.position.x ?? 0));
    if (!this.encoding && this.d.hub.wantsTile(f.isAnomaly)) this.sendTile(f, x0);
    if (web) {
      for (const region of f.regions) {
        // Several cameras: the defect where it lies on the whole web (all cameras that saw it).
        const r =
          canvas && region.web
            ? {
                ...region,
                box: {
                  ...region.box,
                  x: canvas.x(region.web.acrossMm),
                  width: canvas.x(region.web.acrossMm + region.web.widthMm) - canvas.x(region.web.acrossMm),
                },
              }
            : region;
        this.recentRegions.push(r);
        this.save(() => this.regionItem(f, r, web));
      }
      this.recentRegions = this.recentRegions.filter((r) => r.box.y + r.box.height > web.firstLine);
    } else if (f.isAnomaly) {
      this.save(() => this.frameItem(f));
    }
  }

  /** Defects in the lines the strip shows. */
  regions(): DefectRegion[] {
    return this.recentRegions;
  }

  /** `x0`: several cameras: where the tile's camera starts on the web (the page labels web positions). */
  private sendTile(f: ScoredFrame, x0: number): void {
    this.encoding = true;
    const done = overlayJpeg(f.view, f.map(), f.threshold, 80)
      .then((jpeg) =>
        this.d.hub.sendTile(
          {
            type: 'tile',
            seq: f.seq,
            at: f.timestamp,
            score: f.score,
            normalizedScore: f.normalizedScore,
            isAnomaly: f.isAnomaly,
            threshold: f.threshold,
            position: f.position.x !== undefined ? { ...f.position, x: x0 + f.position.x } : f.position,
            width: f.view.width,
            height: f.view.height,
          },
          jpeg,
          f.isAnomaly,
        ),
      )
      .catch((e: Error) => this.d.log(`ui: live tile ${f.seq}: ${e.message}`))
      .finally(() => {
        this.encoding = false;
      });
    this.track(done);
  }

  private save(make: () => Promise<GalleryItem | undefined>): void {
    if (this.saves >= MAX_SAVES) {
      this.d.onDrop('gallery');
      return;
    }
    this.saves++;
    const done = make()
      .then((item) => {
        if (item) this.d.hub.broadcast({ type: 'gallery', item });
        else this.d.onDrop('gallery_disk_low');
      })
      .catch((e: Error) => this.d.log(`ui: gallery: ${e.message}`))
      .finally(() => this.saves--);
    this.track(done);
  }

  /** An anomalous area frame: the frame as captured (what `eval` reads back) and its heat map. */
  private async frameItem(f: ScoredFrame): Promise<GalleryItem | undefined> {
    const [image, overlay] = await Promise.all([encodeImage(f.image, '.png'), overlayJpeg(f.view, f.map(), f.threshold, 85)]);
    const region = [...f.regions].sort((a, b) => b.peak.score - a.peak.score)[0];
    return this.d.gallery.add(
      {
        seq: f.seq,
        at: new Date(f.timestamp).toISOString(),
        score: f.score,
        threshold: f.threshold,
        bank: f.bankId,
        position: f.position,
        ...(region ? { region } : {}),
        width: f.image.width,
        height: f.image.height,
      },
      { image, overlay },
    );
  }

  /** A line-scan defect: one tile of web around it (what the model sees), and its heat map. */
  private async regionItem(f: ScoredFrame, r: DefectRegion, web: RollingWeb): Promise<GalleryItem | undefined> {
    const { width, height } = this.d.tile;
    const cy = r.box.y + Math.floor(r.box.height / 2);
    const cx = r.box.x + Math.floor(r.box.width / 2);
    const w = web.window(cy - Math.floor(height / 2), cx - Math.floor(width / 2), width, height);
    if (w.image.height === 0) return undefined;
    const [image, overlay] = await Promise.all([encodeImage(w.image, '.png'), overlayJpeg(w.image, w.map, f.threshold, 85)]);
    return this.d.gallery.add(
      {
        seq: f.seq,
        at: new Date(f.timestamp).toISOString(),
        score: r.peak.score,
        threshold: f.threshold,
        bank: f.bankId,
        position: { line: w.line, x: w.x },
        region: r,
        width: w.image.width,
        height: w.image.height,
      },
      { image, overlay },
    );
  }

  private track(p: Promise<unknown>): void {
    this.pending.push(p);
    void p.finally(() => {
      this.pending = this.pending.filter((q) => q !== p);
    });
  }

  /** Waits for encodes and gallery writes in progress. */
  async close(): Promise<void> {
    await Promise.allSettled(this.pending);
  }
}
