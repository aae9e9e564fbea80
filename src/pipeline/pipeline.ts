// The inspection chain, one operator per stage:
//   source (capture/) -> line-scan: tileWeb -> FrameQueue (bounded, batches) -> scoreFrames
//   (worker) -> line-scan: mergeWebRegions -> scored frames.
// The service hands every scored frame to its sinks (service/result-sinks.ts).
// `stop$` ends the source; frames already queued are still scored (drain).
import { tap, type Observable } from 'rxjs';
import type { SourceEvents } from '../capture/source-events.js';
import type { Config } from '../config/schema.js';
import type { Frame, ScoredFrame } from '../core/frame.js';
import type { SyntheticWeb } from '../linescan/synthetic-web.js';
import type { TileGeometry } from '../linescan/web-tiler.js';
import type { PipelineMetrics } from '../metrics/metrics.js';
import type { ModelSlot } from './active-model.js';
import { FrameQueue } from './frame-queue.js';
import { frameStream } from './frame-stream.js';
import { mergeWebRegions } from './merge-web-regions.js';
import { stampEnqueued, timeInQueue } from './queue-latency.js';
import { scoreFrames } from './score-frames.js';
import type { PixelWorker } from './pixel-worker-client.js';

export interface PipelineDeps {
  config: Config;
  /** The model in use; swapping it (bank hot reload) takes effect at the next batch. */
  slot: ModelSlot;
  metrics: PipelineMetrics;
  /** Per-pixel work (preprocessing, defect regions, the line-scan web map) off the main thread. */
  pixels: PixelWorker;
  log: (s: string) => void;
  /** The source's state for the service's health and status. */
  hooks?: { onFrameIn?(): void; onSourceState?(up: boolean, detail: string): void; onBacklog?(waiting: number): void };
}

export interface Pipeline {
  scored: Observable<ScoredFrame>;
  queue: FrameQueue<Frame>;
  /** The simulated web, for the synthetic source (ground truth of injected defects). */
  web?: SyntheticWeb;
  /** Line-scan tiling (its webWidth is set from the first chunk for cameras). */
  geometry?: TileGeometry;
}

export function buildPipeline(deps: PipelineDeps, stop$: Observable<unknown>): Pipeline {
  const { config, slot, metrics, pixels, log, hooks = {} } = deps;
  const queue = new FrameQueue<Frame>(
    {
      capacity: config.pipeline.queueSize,
      policy: config.pipeline.queuePolicy,
      maxBatch: config.pipeline.batchSize,
      maxWaitMs: config.pipeline.batchTimeoutMs,
      maxInFlight: config.pipeline.batchesInFlight,
    },
    {
      onDrop: () => metrics.framesDropped.inc({ reason: 'queue_full' }),
      onDepth: (d) => metrics.queueDepth.set(d),
    },
  );
  const events: SourceEvents = {
    onBadFrame: (what, e) => {
      metrics.framesDropped.inc({ reason: 'bad_frame' });
      log(`skipped ${what}: ${e.message}`);
    },
    onReconnect: (attempt, delay, e) => {
      metrics.sourceReconnects.inc();
      log(`source lost (${e.message}); reconnect attempt ${attempt} in ${delay} ms`);
    },
    onState: (up, detail) => {
      metrics.sourceUp.set(up ? 1 : 0);
      log(up ? `source up: ${detail}` : `source down: ${detail}; waiting for it`);
      hooks.onSourceState?.(up, detail);
    },
    onBacklog: (waiting) => {
      metrics.sourceBacklog.set(waiting);
      hooks.onBacklog?.(waiting);
    },
  };
  metrics.sourceUp.set(1);
  // Tiles have the model's input size; a reloaded bank must keep it (checked on reload).
  const { frames, geometry, web } = frameStream(config, slot.current.model.manifest.input, queue.flow, events, stop$, {
    onBadChunk: (chunk, e) => {
      metrics.framesDropped.inc({ reason: 'bad_frame' });
      log(`line chunk ${chunk.seq}: ${e.message}`);
    },
    onLines: (n) => metrics.linesIn.inc(n),
  });
  const lineScan = geometry !== undefined;

  const frameIn = () => {
    metrics.framesIn.inc();
    hooks.onFrameIn?.();
  };
  const scored = queue
    .batches(frames.pipe(tap(frameIn), stampEnqueued()))
    .pipe(
      timeInQueue(metrics),
      scoreFrames(
        slot,
        pixels,
        { minRegionArea: config.pipeline.minRegionArea, frameRegions: !lineScan, onBatchDone: () => queue.ready() },
        metrics,
      ),
    );
  const threshold = () => (Number.isFinite(slot.current.model.threshold) ? slot.current.model.threshold : Infinity);
  return {
    scored: lineScan
      ? scored.pipe(mergeWebRegions(() => pixels.webMap(geometry, config.pipeline.minRegionArea, config.linescan), threshold))
      : scored,
    queue,
    ...(geometry ? { geometry } : {}),
    ...(web ? { web } : {}),
  };
}
