// The inspection chain, one operator per stage:
//   source (capture/) -> line-scan: tileWeb -> FrameQueue (bounded, batches) -> scoreFrames
//   (worker) -> line-scan: mergeWebRegions -> scored frames.
// Several cameras over one web: cameraFrames (a tiling per camera, one queue) -> FrameQueue ->
//   scoreFrames -> mergeCameraWebs (a web map per camera, overlap defects once) -> scored frames.
// The service hands every scored frame to its sinks (service/result-sinks.ts).
// `stop$` ends the source; frames already queued are still scored (drain).
import { Subject, tap, type Observable } from 'rxjs';
import type { SourceEvents } from '../capture/source-events.js';
import { queuePolicyOf, type Config } from '../config/schema.js';
import type { Frame, LineChunk, ScoredFrame } from '../core/frame.js';
import type { WebLayout } from '../linescan/camera-layout.js';
import type { SyntheticWeb } from '../linescan/synthetic-web.js';
import type { TileGeometry } from '../linescan/web-tiler.js';
import type { PipelineMetrics } from '../metrics/metrics.js';
import type { ModelSlot } from './active-model.js';
import { cameraFrames } from './camera-frames.js';
import { maxBatchFrames, queueCapacity } from './batch-size.js';
import { FrameQueue } from './frame-queue.js';
import { frameStream } from './frame-stream.js';
import { mergeCameraWebs } from './merge-camera-webs.js';
import { mergeWebRegions } from './merge-web-regions.js';
import { stampEnqueued, timeInQueue } from './queue-latency.js';
import { scoreFrames } from './score-frames.js';
import type { PixelWorker } from './pixel-worker-client.js';

export interface PipelineDeps {
  config: Config;
  /** The model in use; swapping it (bank hot reload) takes effect at the next batch. */
  slot: ModelSlot;
  /** Cameras with their own bank (config cameras[].bank): their tiles are scored by these. */
  cameraSlots?: ReadonlyMap<string, ModelSlot>;
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
  /** Several cameras over one web: where they are and how each is tiled. */
  cameras?: { layout: WebLayout; geometries: Map<string, TileGeometry> };
}

export function buildPipeline(deps: PipelineDeps, stop$: Observable<unknown>): Pipeline {
  const { config, slot, metrics, pixels, log, hooks = {} } = deps;
  // Tiles have the model's input size; a reloaded bank must keep it (checked on reload).
  const tile = slot.current.model.manifest.input;
  const capacity = queueCapacity(config, tile);
  if (capacity > config.pipeline.queueSize)
    log(
      `queue: holds ${capacity} tiles, two web rows (pipeline.queueSize ${config.pipeline.queueSize} is less: a row's tiles arrive at once)`,
    );
  const queue = new FrameQueue<Frame>(
    {
      capacity,
      policy: queuePolicyOf(config),
      maxBatch: maxBatchFrames(config, tile),
      maxWaitMs: config.pipeline.batchTimeoutMs,
      ...(config.pipeline.batchSize === 'row' ? { endsBatch: (f: Frame) => f.endsRow === true } : {}),
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
  const badChunk = (chunk: LineChunk, e: Error, camera?: string) => {
    metrics.framesDropped.inc({ reason: 'bad_frame' });
    log(`${camera ? `camera ${camera}: ` : ''}line chunk ${chunk.seq}: ${e.message}`);
  };
  if (config.cameras.length > 0) return cameraPipeline(deps, stop$, queue, events, badChunk);
  const { frames, geometry, web } = frameStream(config, tile, queue.flow, events, stop$, {
    onBadChunk: (chunk, e) => badChunk(chunk, e),
    onLines: (n) => metrics.linesIn.inc(n),
  });
  const lineScan = geometry !== undefined;
  const scored = scoreQueued(deps, queue, frames, !lineScan);
  return {
    scored: lineScan
      ? scored.pipe(mergeWebRegions(() => pixels.webMap(geometry, config.pipeline.minRegionArea, config.linescan), threshold(slot)))
      : scored,
    queue,
    ...(geometry ? { geometry } : {}),
    ...(web ? { web } : {}),
  };
}

/** Frames through the queue (batches) and the model. */
function scoreQueued(
  deps: PipelineDeps,
  queue: FrameQueue<Frame>,
  frames: Observable<Frame>,
  frameRegions: boolean,
): Observable<ScoredFrame> {
  const { config, metrics, pixels, hooks = {} } = deps;
  const frameIn = (f: Frame) => {
    metrics.framesIn.inc();
    if (f.camera) metrics.cameraTiles.inc({ camera: f.camera });
    hooks.onFrameIn?.();
  };
  return queue.batches(frames.pipe(tap(frameIn), stampEnqueued())).pipe(
    timeInQueue(metrics),
    scoreFrames(
      (f) => slotOf(deps, f.camera),
      pixels,
      { minRegionArea: config.pipeline.minRegionArea, frameRegions, onBatchDone: () => queue.ready() },
      metrics,
    ),
  );
}

function slotOf(deps: PipelineDeps, camera: string | undefined): ModelSlot {
  return (camera !== undefined ? deps.cameraSlots?.get(camera) : undefined) ?? deps.slot;
}

function threshold(slot: ModelSlot): () => number {
  return () => (Number.isFinite(slot.current.model.threshold) ? slot.current.model.threshold : Infinity);
}

/**
 * Several cameras over one web: each camera's tiles into the one queue, its maps into its own web
 * map, then a defect two cameras see merged into one. A camera that goes down is reported (metric,
 * log, source state) while the others go on.
 */
function cameraPipeline(
  deps: PipelineDeps,
  stop$: Observable<unknown>,
  queue: FrameQueue<Frame>,
  events: SourceEvents,
  badChunk: (chunk: LineChunk, e: Error, camera: string) => void,
): Pipeline {
  const { config, slot, metrics, pixels, log, hooks = {} } = deps;
  const state = new Subject<{ camera: string; up: boolean }>();
  const down = new Set<string>();
  const ids = config.cameras.map((c) => c.id);
  const setState = (camera: string, up: boolean, detail: string) => {
    if (up === !down.has(camera)) return;
    if (up) down.delete(camera);
    else down.add(camera);
    metrics.cameraUp.set({ camera }, up ? 1 : 0);
    log(up ? `camera ${camera} up: ${detail}` : `camera ${camera} down: ${detail}; the other cameras go on`);
    const upCount = ids.length - down.size;
    // The web is inspected while any camera runs; which ones are down is in the detail.
    metrics.sourceUp.set(upCount > 0 ? 1 : 0);
    hooks.onSourceState?.(
      upCount > 0,
      down.size === 0 ? `${ids.length} cameras` : `${upCount} of ${ids.length} cameras (down: ${[...down].join(', ')})`,
    );
    state.next({ camera, up });
  };
  const eventsFor = (camera: string): SourceEvents => ({
    ...events,
    onBadFrame: (what, e) => events.onBadFrame(`camera ${camera}: ${what}`, e),
    // A live camera that reconnects is down until its next frame.
    onReconnect: (attempt, delay, e) => {
      events.onReconnect(attempt, delay, new Error(`camera ${camera}: ${e.message}`));
      setState(camera, false, e.message);
    },
    onState: (up, detail) => setState(camera, up, detail),
  });
  for (const c of config.cameras) metrics.cameraUp.set({ camera: c.id }, 1);
  const tile = slot.current.model.manifest.input;
  const cams = cameraFrames(config, tile, queue.flow, eventsFor, stop$, (camera) => ({
    onBadChunk: (chunk, e) => badChunk(chunk, e, camera),
    onLines: (n) => {
      metrics.linesIn.inc(n);
      metrics.cameraLines.inc({ camera }, n);
      setState(camera, true, 'lines arrive');
    },
  }));
  const pitch = new Map(cams.layout.cameras.map((c) => [c.id, c.mmPerPixel]));
  const scored = scoreQueued(deps, queue, cams.frames, false).pipe(
    mergeCameraWebs({
      layout: cams.layout,
      mmPerLine: config.linescan.mmPerLine,
      // Two cameras' maps blur a defect differently, by about one feature cell (8 px at the finest layer).
      toleranceMm: 8 * Math.max(...pitch.values()),
      createWebMap: (camera) =>
        pixels.webMap(cams.geometries.get(camera)!, config.pipeline.minRegionArea, { ...config.linescan, mmPerPixel: pitch.get(camera)! }),
      threshold: (camera) => threshold(slotOf(deps, camera))(),
      cameraState: state,
    }),
  );
  return {
    scored,
    queue,
    cameras: { layout: cams.layout, geometries: cams.geometries },
    ...(cams.web ? { web: cams.web } : {}),
  };
}
