// The operator page of a running service: the defect gallery on disk, the pages connected to
// /live, the score timeline, the recent line-scan web, the sink that feeds them, the HTTP
// server, and a one-second tick that sends status, new timeline points and the web strip.
import { fileURLToPath } from 'node:url';
import { dataDir } from '../config/data-dir.js';
import type { Config } from '../config/schema.js';
import { encodeImage, resizeImage } from '../imaging/encode.js';
import type { PipelineMetrics } from '../metrics/metrics.js';
import { GalleryStore } from './gallery-store.js';
import type { RecipeApi } from './recipe-api.js';
import { LiveHub } from './live-hub.js';
import { OperatorSink } from './operator-sink.js';
import type { LiveMessage, StatusMessage } from './protocol.js';
import { RollingWeb } from './rolling-web.js';
import { startUiServer } from './server.js';
import { Timeline } from './timeline.js';
import { WriteToken } from './token.js';

/** The page's built files: dist/ui-assets from src/ui/client (npm run build). */
export const ASSETS_DIR = fileURLToPath(new URL('../../dist/ui-assets', import.meta.url));

export type ServiceStatus = Omit<StatusMessage, 'type' | 'at' | 'dropped' | 'mmPerLine' | 'mmPerPixel' | 'lineScan'>;

export interface OperatorPageDeps {
  config: Config;
  lineScan: boolean;
  /** The model's tile size (line-scan defect crops). */
  tile: { width: number; height: number };
  /** Web width in pixels, known once the first lines arrived (0 before). */
  webWidth(): number;
  /** Several cameras over one web: the strip shows them side by side (linescan/camera-layout.ts webCanvas). */
  canvas?: { x0(camera: string): number; x(mm: number): number };
  status(): ServiceStatus;
  metrics: PipelineMetrics;
  recipes?: RecipeApi;
  log: (s: string) => void;
}

export class OperatorPage {
  private constructor(
    readonly sink: OperatorSink,
    readonly url: string,
    private readonly hub: LiveHub,
    private readonly stopTick: () => void,
    private readonly closeServer: () => Promise<void>,
  ) {}

  static async start(d: OperatorPageDeps): Promise<OperatorPage> {
    const ui = d.config.ui;
    const token = new WriteToken(ui.tokenFile);
    const gallery = GalleryStore.open(dataDir(ui.dataDir, 'ui'), ui.gallery, d.log);
    let dropped = 0;
    const onDrop = (kind: string) => {
      dropped++;
      d.metrics.uiDropped.inc({ kind });
    };
    const hub = new LiveHub({ liveFps: ui.liveFps, maxBufferedBytes: ui.pageBufferKb * 1024 }, onDrop);
    const timeline = new Timeline(ui.timelineSeconds);
    let web: RollingWeb | undefined;
    const sink = new OperatorSink({
      hub,
      gallery,
      timeline,
      get web() {
        if (!d.lineScan) return undefined;
        const width = d.webWidth();
        if (!web && width > 0) web = new RollingWeb(width, ui.stripLines);
        return web;
      },
      tile: d.tile,
      ...(d.canvas ? { canvas: d.canvas } : {}),
      onDrop,
      log: d.log,
    });
    const status = (): StatusMessage => ({
      type: 'status',
      at: Date.now(),
      ...d.status(),
      lineScan: d.lineScan,
      mmPerLine: d.config.linescan.mmPerLine,
      mmPerPixel: d.config.linescan.mmPerPixel,
      dropped,
    });
    const hello = (): LiveMessage[] => [status(), { type: 'timeline', points: timeline.all(), threshold: d.status().threshold }];
    const server = await startUiServer(
      {
        assetsDir: ASSETS_DIR,
        gallery,
        hub,
        token,
        hello,
        status,
        threshold: () => d.status().threshold,
        ...(d.recipes ? { recipes: d.recipes } : {}),
        log: d.log,
      },
      ui.bind,
      ui.port,
    );
    let stripBusy = false;
    const tick = () => {
      d.metrics.uiPages.set(hub.size);
      if (hub.size === 0) {
        timeline.fresh();
        return;
      }
      hub.broadcast(status());
      hub.broadcast({ type: 'timeline', points: timeline.fresh(), threshold: d.status().threshold });
      if (web && !stripBusy && web.lastLine > web.firstLine) {
        stripBusy = true;
        const w = web;
        const { image, firstLine } = w.snapshot();
        const scale = ui.stripScale;
        resizeImage(image, Math.max(1, Math.round(image.width / scale)), Math.max(1, Math.round(image.height / scale)))
          .then((small) => encodeImage(small, '.jpg', 70))
          .then((jpeg) =>
            hub.sendBinary(
              'strip',
              {
                type: 'strip',
                firstLine,
                lines: image.height,
                webWidth: image.width,
                scale,
                regions: sink.regions().filter((r) => r.box.y + r.box.height > firstLine),
              },
              jpeg,
            ),
          )
          .catch((e: Error) => d.log(`ui: web strip: ${e.message}`))
          .finally(() => {
            stripBusy = false;
          });
      }
    };
    const timer = setInterval(tick, 1000);
    return new OperatorPage(sink, server.url, hub, () => clearInterval(timer), server.close);
  }

  /** A message to every connected page (job progress, recipe changes). */
  broadcast(message: LiveMessage): void {
    this.hub.broadcast(message);
  }

  async close(): Promise<void> {
    this.stopTick();
    await this.closeServer();
  }
}
