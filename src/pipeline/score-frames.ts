// The inference stage: a batch of frames -> preprocessing -> backbone + head + kNN in the
// worker -> scored frames with maps and (for area frames) defect regions.
import { concatMap, from, map, type OperatorFunction } from 'rxjs';
import type { DefectRegion, Frame, ScoredFrame } from '../core/frame.js';
import type { PipelineMetrics } from '../metrics/metrics.js';
import { normalizeScore } from '../patchcore/patchcore.js';
import { shorterSideSize, type ResizePolicy } from '../preprocess/transform.js';
import type { ModelSlot } from './active-model.js';
import type { PixelWorker } from './pixel-worker-client.js';

/** Map pixel (model input) -> frame pixel for a resize policy. */
export function mapToFrame(
  policy: ResizePolicy,
  frame: { width: number; height: number },
): (x: number, y: number) => { x: number; y: number } {
  if (policy.mode === 'exact') {
    const sx = frame.width / policy.width;
    const sy = frame.height / policy.height;
    return (x, y) => ({ x: Math.round(x * sx), y: Math.round(y * sy) });
  }
  const resized = shorterSideSize(frame.width, frame.height, policy.resize);
  const s = frame.width / resized.width;
  const left = Math.round((resized.width - policy.crop) / 2);
  const top = Math.round((resized.height - policy.crop) / 2);
  return (x, y) => ({ x: Math.round((x + left) * s), y: Math.round((y + top) * s) });
}

function toFrameRegion(r: DefectRegion, to: ReturnType<typeof mapToFrame>): DefectRegion {
  const a = to(r.box.x, r.box.y);
  const b = to(r.box.x + r.box.width, r.box.y + r.box.height);
  const p = to(r.peak.x, r.peak.y);
  return { box: { x: a.x, y: a.y, width: b.x - a.x, height: b.y - a.y }, area: r.area, peak: { x: p.x, y: p.y, score: r.peak.score } };
}

export interface ScoreOptions {
  minRegionArea: number;
  /** Line-scan tiles get their regions from the web map merger instead. */
  frameRegions: boolean;
  /** Called after each batch: the queue may send the next. */
  onBatchDone(): void;
}

/**
 * Scores each batch with the slot's model at the time the batch starts. A batch starts as soon
 * as the queue hands it over (preprocessing in the pixel worker, then the inference worker
 * queues its run), so with two batches in flight one is prepared while the other runs; results
 * still leave in batch order. The main thread does no per-pixel work here.
 */
export function scoreFrames(
  slotFor: (f: Frame) => ModelSlot,
  pixels: PixelWorker,
  opts: ScoreOptions,
  metrics: PipelineMetrics,
): OperatorFunction<Frame[], ScoredFrame> {
  const scoreWith = async (slot: ModelSlot, frames: Frame[]): Promise<ScoredFrame[]> => {
    const lease = slot.acquire();
    const { model, bankId } = lease.active;
    const { width, height } = model.manifest.input;
    const threshold = model.threshold;
    const policy = model.manifest.input.resize;
    try {
      const t0 = performance.now();
      metrics.batchSize.observe(frames.length);
      const prepared = await pixels.prepare(
        frames.map((f) => f.image),
        policy,
        model.manifest.input.normalization,
      );
      const t1 = performance.now();
      const p = await model.predict({ data: prepared.batch, dims: prepared.dims });
      const t2 = performance.now();
      const out = await Promise.all(
        frames.map(async (f, i) => {
          const image = prepared.images[i]!;
          const score = p.imageScores[i]!;
          let cached: Float32Array | undefined;
          const map = () => (cached ??= p.map(i));
          const to = mapToFrame(policy, image);
          // The map is a convex combination of patch scores (bilinear weights, normalised Gaussian),
          // so no pixel can reach the threshold when the image score does not (slack: rounding).
          const regions =
            opts.frameRegions && Number.isFinite(threshold) && score >= threshold * (1 - 1e-6)
              ? (await pixels.regions(map(), width, height, threshold, opts.minRegionArea)).map((r) => toFrameRegion(r, to))
              : [];
          return {
            ...f,
            image,
            view: prepared.views[i]!,
            score,
            normalizedScore: normalizeScore(score, threshold),
            isAnomaly: Number.isFinite(threshold) && score >= threshold,
            threshold,
            map,
            regions,
            bankId,
            latency: {
              ...f.latency,
              preprocess: (t1 - t0) / frames.length,
              inference: (t2 - t1) / frames.length,
              postprocess: (performance.now() - t2) / frames.length,
            },
          };
        }),
      );
      metrics.stageSeconds.observe({ stage: 'preprocess' }, (t1 - t0) / 1000 / frames.length);
      metrics.stageSeconds.observe({ stage: 'inference' }, (t2 - t1) / 1000 / frames.length);
      metrics.stageSeconds.observe({ stage: 'postprocess' }, (performance.now() - t2) / 1000 / frames.length);
      return out;
    } finally {
      lease.release();
    }
  };
  // Frames of cameras with their own bank run through that bank's model; the rest of the batch
  // stays one run. Results keep the batch's order.
  const score = async (frames: Frame[]): Promise<ScoredFrame[]> => {
    try {
      const groups = new Map<ModelSlot, number[]>();
      frames.forEach((f, i) => {
        const slot = slotFor(f);
        groups.set(slot, [...(groups.get(slot) ?? []), i]);
      });
      const out = new Array<ScoredFrame>(frames.length);
      await Promise.all(
        [...groups].map(async ([slot, at]) => {
          const scored = await scoreWith(
            slot,
            at.map((i) => frames[i]!),
          );
          at.forEach((i, j) => (out[i] = scored[j]!));
        }),
      );
      return out;
    } finally {
      opts.onBatchDone();
    }
  };
  return (source) =>
    source.pipe(
      map((frames) => {
        const scored = score(frames);
        // Awaited in order below; this keeps a failure from being reported as unhandled first.
        scored.catch(() => undefined);
        return scored;
      }),
      concatMap((scored) => from(scored)),
      concatMap((scored) => from(scored)),
    );
}
