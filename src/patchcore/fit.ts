// Fitting: good images -> embeddings -> coreset memory bank -> calibrated threshold.
// The training embeddings live in one preallocated array (the reference's memory bank before
// subsampling); everything else is a fraction of it.
import type { TensorNCHW } from '../core/image.js';
import { PATCHLINE_VERSION } from '../core/version.js';
import { resolve } from 'node:path';
import type { TestSample } from '../io/dataset.js';
import type { ResolvedBackbone } from '../model/backbone.js';
import type { InferenceRuntime } from '../model/inference-runtime.js';
import { loadBatch } from '../preprocess/batch.js';
import { outputSize, REFERENCE_RESIZE, type ResizePolicy } from '../preprocess/transform.js';
import { unsavedBank, type BankManifest, type Calibration } from './bank-file.js';
import { f1OptimalThreshold, quantile } from './calibration.js';
import { PROJECTION_DIM, Projector, randomProjection, selectCoresetOfPoints, type CoresetMethod } from './coreset.js';
import { EmbeddingSpool } from './embedding-spool.js';
import { Embedder, type HeadParams } from './embedder.js';
import { PatchCore } from './patchcore.js';

export interface FitOptions {
  backbone: ResolvedBackbone;
  backboneRef: string;
  layers: string[];
  head: HeadParams;
  resize: ResizePolicy;
  coreset: { method: CoresetMethod; percentage: number; seed: number };
  k: number;
  mapSigma: number;
  /** Share of the training images kept out of the bank to calibrate the threshold. */
  holdout: number;
  calibration: { quantile: number; margin: number };
  /** Labelled images for an F1-optimal threshold instead of the holdout quantile. */
  validation?: TestSample[];
  batchSize: number;
  folder: string;
  /** Folder for the temporary embedding file (default: the OS temp folder). */
  workDir?: string;
}

/**
 * What `patchline fit` uses unless told otherwise (the reference's settings where it has them);
 * the demo and the accuracy sweep start from these too.
 */
export const FIT_DEFAULTS = {
  head: { patchsize: 3, pretrainDim: 1024, targetDim: 1024 },
  resize: REFERENCE_RESIZE,
  coreset: { method: 'approximate', percentage: 0.01, seed: 0 },
  k: 1,
  mapSigma: 4,
  holdout: 0.1,
  calibration: { quantile: 0.99, margin: 0.1 },
  batchSize: 8,
} as const satisfies Partial<FitOptions>;

export interface FitProgress {
  stage(name: 'embed' | 'coreset' | 'calibrate', total: number, unit: string): { tick(n?: number): void; stop(): void };
}

export interface FitResult {
  manifest: Omit<BankManifest, 'dataSha256' | 'format' | 'version'>;
  rows: Float32Array;
  /** Bank rows as indices into the fitted patches, in coreset selection order. */
  indices: Int32Array;
  /** Image scores of the calibration images (held-out good ones, or the validation folder). */
  calibrationScores: number[];
  timings: { embedMs: number; coresetMs: number; calibrateMs: number };
}

/** Evenly spread, deterministic holdout positions (file order often follows production time). */
export function holdoutIndices(n: number, share: number): Set<number> {
  const h = share > 0 ? Math.max(1, Math.round(n * share)) : 0;
  if (h >= n) throw new RangeError(`holdout share ${share} leaves no image for the bank (${n} images)`);
  return new Set(Array.from({ length: h }, (_, j) => Math.floor(((j + 0.5) * n) / h)));
}

/** Runs `files` through `fn` in batches, decoding the next batch while the current one infers. */
export async function forEachBatch(
  files: string[],
  batchSize: number,
  load: (paths: string[]) => Promise<TensorNCHW>,
  fn: (batch: TensorNCHW, start: number, paths: string[]) => Promise<void>,
): Promise<void> {
  let next = files.length > 0 ? load(files.slice(0, batchSize)) : undefined;
  for (let start = 0; start < files.length; start += batchSize) {
    const batch = await next!;
    const paths = files.slice(start, start + batchSize);
    next = start + batchSize < files.length ? load(files.slice(start + batchSize, start + 2 * batchSize)) : undefined;
    await fn(batch, start, paths);
  }
}

export async function fitBank(runtime: InferenceRuntime, files: string[], opts: FitOptions, progress: FitProgress): Promise<FitResult> {
  const held = holdoutIndices(files.length, opts.holdout);
  const bankFiles = files.filter((_, i) => !held.has(i));
  const holdFiles = files.filter((_, i) => held.has(i));
  const input = outputSize(opts.resize);
  const embedder = await Embedder.create(runtime, opts.backbone, opts.layers, opts.head, input, 'fit');
  const load = (paths: string[]) => loadBatch(paths, opts.resize, opts.backbone.spec.normalization);
  const per = embedder.grid.height * embedder.grid.width;
  const dim = opts.head.targetDim;

  // Full embeddings go to disk; only their 128-dim projection, what the coreset needs, stays in RAM.
  const t0 = performance.now();
  const spool = new EmbeddingSpool(dim, opts.workDir);
  let indices: Int32Array;
  let rows: Float32Array;
  let embedMs: number;
  let coresetMs: number;
  try {
    const needsProjection = dim !== PROJECTION_DIM && opts.coreset.method !== 'identity';
    const projector = needsProjection
      ? await Projector.create(runtime, dim, randomProjection(dim, opts.coreset.seed), 'fit/project')
      : undefined;
    const points = opts.coreset.method === 'identity' ? undefined : new Float32Array(bankFiles.length * per * PROJECTION_DIM);
    const bar = progress.stage('embed', bankFiles.length, 'images');
    await forEachBatch(bankFiles, opts.batchSize, load, async (batch, start) => {
      const e = await embedder.embed(batch);
      spool.append(e.data);
      points?.set(projector ? await projector.project(e.data) : e.data, start * per * PROJECTION_DIM);
      bar.tick(e.images);
    });
    bar.stop();
    await projector?.release();
    embedMs = performance.now() - t0;

    const t1 = performance.now();
    const total = Math.floor(bankFiles.length * per * opts.coreset.percentage);
    const cbar = progress.stage('coreset', points ? total : 1, 'picks');
    let last = 0;
    indices = points
      ? await selectCoresetOfPoints(runtime, points, opts.coreset, {}, (done) => {
          cbar.tick(done - last);
          last = done;
        })
      : Int32Array.from({ length: spool.length }, (_, i) => i);
    if (!points) cbar.tick();
    cbar.stop();
    rows = spool.gather(indices);
    coresetMs = performance.now() - t1;
  } finally {
    spool.close();
  }

  const manifest: FitResult['manifest'] = {
    createdAt: new Date().toISOString(),
    patchlineVersion: PATCHLINE_VERSION,
    backbone: {
      ref: opts.backboneRef,
      name: opts.backbone.spec.name,
      sha256: embedder.backboneSha256,
      layers: embedder.headSpec.layers.map((l) => ({ ...l, tensor: opts.backbone.spec.layers[l.name]?.tensor ?? l.name })),
    },
    input: { ...input, resize: opts.resize, normalization: opts.backbone.spec.normalization },
    head: opts.head,
    grid: embedder.grid,
    scorer: { k: opts.k, mapSigma: opts.mapSigma },
    coreset: { ...opts.coreset, inputRows: bankFiles.length * per, rows: indices.length },
    calibration: { threshold: NaN, method: 'none', scores: { count: 0, min: NaN, median: NaN, max: NaN } },
    training: {
      folder: opts.folder,
      images: files.length,
      bankImages: bankFiles.length,
      holdoutImages: holdFiles.length,
      ...(opts.validation ? {} : { holdoutFiles: holdFiles.map((f) => resolve(f)) }),
    },
    origin: { action: 'fit' },
  };

  const t2 = performance.now();
  const samples = opts.validation ?? holdFiles.map((path) => ({ path, label: 0 as const, defect: 'good' }));
  const calibrated = await calibrateBank(
    runtime,
    { manifest, rows },
    opts.backbone,
    samples,
    { ...opts, validation: !!opts.validation },
    progress,
  );
  manifest.calibration = calibrated.calibration;
  const calibrateMs = performance.now() - t2;
  return { manifest, rows, indices, calibrationScores: Array.from(calibrated.scores), timings: { embedMs, coresetMs, calibrateMs } };
}

export function summary(scores: ArrayLike<number>): Calibration['scores'] {
  return { count: scores.length, min: quantile(scores, 0), median: quantile(scores, 0.5), max: quantile(scores, 1) };
}

/**
 * The threshold of a bank: the F1-optimal one on labelled `samples` (`validation`), or the
 * quantile of good `samples`' scores times (1 + margin). None without samples.
 */
export async function calibrateBank(
  runtime: InferenceRuntime,
  bank: { manifest: FitResult['manifest']; rows: Float32Array },
  backbone: ResolvedBackbone,
  samples: Pick<TestSample, 'path' | 'label'>[],
  opts: { calibration: { quantile: number; margin: number }; validation: boolean; batchSize: number },
  progress: FitProgress,
): Promise<{ calibration: Calibration; scores: Float64Array }> {
  if (samples.length === 0) return { calibration: { threshold: NaN, method: 'none', scores: summary([]) }, scores: new Float64Array(0) };
  const model = await PatchCore.load(runtime, unsavedBank(bank.manifest, bank.rows), backbone, 'calibrate');
  const scores = new Float64Array(samples.length);
  const bar = progress.stage('calibrate', samples.length, 'images');
  const { resize, normalization } = bank.manifest.input;
  try {
    await forEachBatch(
      samples.map((s) => s.path),
      opts.batchSize,
      (paths) => loadBatch(paths, resize, normalization),
      async (batch, start) => {
        const p = await model.predict(batch);
        scores.set(p.imageScores, start);
        bar.tick(p.imageScores.length);
      },
    );
  } finally {
    bar.stop();
    await model.release();
  }
  if (opts.validation) {
    const best = f1OptimalThreshold(
      scores,
      samples.map((s) => s.label),
    );
    return { calibration: { threshold: best.threshold, method: 'validation-f1', f1: best.f1, scores: summary(scores) }, scores };
  }
  const q = quantile(scores, opts.calibration.quantile);
  return {
    calibration: {
      threshold: q * (1 + opts.calibration.margin),
      method: 'holdout-quantile',
      quantile: opts.calibration.quantile,
      margin: opts.calibration.margin,
      scores: summary(scores),
    },
    scores,
  };
}
