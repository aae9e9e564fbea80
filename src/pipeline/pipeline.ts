// The inspection chain, one operator per stage:
//   source -> (line-scan: tileWeb) -> FrameQueue (bounded, batches) -> scoreFrames (worker)
//   -> (line-scan: mergeWebRegions) -> publish (MQTT results + heat maps) and metrics.
// `stop$` ends the source; frames already queued are still scored and published (drain).
import { concatMap, map, Observable, takeUntil, tap, type OperatorFunction } from 'rxjs';
import { captureSource, folderSource, syntheticWebSource, type Flow, type SourceEvents } from '../capture/sources.js';
import type { SyntheticWeb } from '../capture/synthetic-web.js';
import type { Config } from '../config/schema.js';
import type { PipelineMetrics } from '../metrics/metrics.js';
import type { MqttPublisher } from '../publish/mqtt-publisher.js';
import { resultPayload } from '../publish/payloads.js';
import type { ModelSlot } from './active-model.js';
import type { Frame, LineChunk, ScoredFrame } from './frame.js';
import { FrameQueue } from './frame-queue.js';
import { HeatmapSink } from './heatmap-sink.js';
import { scoreFrames } from './score-frames.js';
import { tileWeb } from './tile-web.js';
import { WebMapMerger } from './web-map.js';
import { mergeWebRegions } from './web-regions.js';

export interface PipelineDeps {
  config: Config;
  /** The model in use; swapping it (bank hot reload) takes effect at the next batch. */
  slot: ModelSlot;
  metrics: PipelineMetrics;
  publisher?: MqttPublisher;
  log: (s: string) => void;
}

export interface Pipeline {
  results: Observable<ScoredFrame>;
  queue: FrameQueue<Frame>;
  /** The simulated web, for the synthetic source (ground truth of injected defects). */
  web?: SyntheticWeb;
}

/** Area frames from a line-scan camera driver (N lines per frame) as line chunks. */
function framesToChunks(): OperatorFunction<Frame, LineChunk> {
  let line = 0;
  return map((f) => {
    const chunk: LineChunk = { seq: f.seq, timestamp: f.timestamp, firstLine: line, lines: f.image.height, width: f.image.width, data: f.image.data };
    line += f.image.height;
    return chunk;
  });
}

export function buildPipeline(deps: PipelineDeps, stop$: Observable<unknown>): Pipeline {
  const { config, slot, metrics, publisher, log } = deps;
  const c = config.source;
  const queue = new FrameQueue<Frame>(
    { capacity: config.pipeline.queueSize, policy: config.pipeline.queuePolicy, maxBatch: config.pipeline.batchSize, maxWaitMs: config.pipeline.batchTimeoutMs, maxInFlight: config.pipeline.batchesInFlight },
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
  };
  const flow: Flow = queue.flow;
  // Tiles have the model's input size; a reloaded bank must keep it (checked on reload).
  const { width, height } = slot.current.model.manifest.input;
  const lineScan = config.linescan.enabled ?? c.type === 'synthetic-web';
  let web: SyntheticWeb | undefined;
  let chunks: Observable<LineChunk> | undefined;
  let frames: Observable<Frame> | undefined;
  switch (c.type) {
    case 'synthetic-web': {
      const s = syntheticWebSource({ width: c.width, seed: c.seed, defectEvery: c.defectEvery, linesPerChunk: c.linesPerChunk, linesPerSecond: c.linesPerSecond, lines: c.lines }, flow);
      web = s.web;
      chunks = s.chunks;
      break;
    }
    case 'folder':
      frames = folderSource(c, flow, events);
      break;
    case 'video':
      frames = captureSource({ device: c.path, live: false, loop: c.loop }, flow, events);
      break;
    case 'capture':
      frames = captureSource({ device: c.device, live: true, reconnect: c.reconnect }, flow, events);
      break;
  }
  if (lineScan && frames) chunks = frames.pipe(framesToChunks());
  // webWidth 0: taken from the first chunk (cameras); tileWeb fills it in before anything reads it.
  const geometry = { webWidth: c.type === 'synthetic-web' ? c.width : 0, tileWidth: width, tileHeight: height, overlap: config.linescan.overlap };
  const tiles: Observable<Frame> = lineScan
    ? chunks!.pipe(
        takeUntil(stop$),
        tileWeb(geometry, {
          onBadChunk: (chunk, e) => {
            metrics.framesDropped.inc({ reason: 'bad_frame' });
            log(`line chunk ${chunk.seq}: ${e.message}`);
          },
          onLines: (n) => metrics.linesIn.inc(n),
        }),
      )
    : frames!.pipe(takeUntil(stop$));

  const heatmaps = new HeatmapSink({ ...config.mqtt.heatmap, dir: config.output.heatmapDir }, publisher, metrics);
  const scored = queue.batches(tiles.pipe(tap(() => metrics.framesIn.inc()), map((f) => ({ ...f, latency: { ...f.latency, enqueued: performance.now() } })))).pipe(
    map((batch) => {
      const now = performance.now();
      return batch.map((f) => {
        const { enqueued, ...rest } = f.latency;
        const waited = now - (enqueued ?? now);
        metrics.stageSeconds.observe({ stage: 'queue' }, waited / 1000);
        return { ...f, latency: { ...rest, queue: waited } };
      });
    }),
    scoreFrames(slot, { minRegionArea: config.pipeline.minRegionArea, frameRegions: !lineScan, onBatchDone: () => queue.ready() }, metrics),
  );
  const threshold = () => (Number.isFinite(slot.current.model.threshold) ? slot.current.model.threshold : Infinity);
  const merged = lineScan ? scored.pipe(mergeWebRegions(() => new WebMapMerger(geometry, threshold, config.pipeline.minRegionArea, config.linescan))) : scored;
  const results = merged.pipe(
    concatMap(async (f) => {
      const t = performance.now();
      metrics.framesOut.inc();
      metrics.score.observe(Number.isFinite(f.normalizedScore) ? f.normalizedScore : 0);
      metrics.lastResult.set(Date.now() / 1000);
      if (f.isAnomaly) metrics.anomalies.inc();
      metrics.defectRegions.inc(f.regions.length);
      await heatmaps.handle(f);
      const publishMs = performance.now() - t;
      metrics.stageSeconds.observe({ stage: 'publish' }, publishMs / 1000);
      const done: ScoredFrame = { ...f, latency: { ...f.latency, publish: publishMs } };
      publisher?.publishResult(resultPayload(done, config.line, config.camera));
      return done;
    }),
  );
  return { results, queue, ...(web ? { web } : {}) };
}
