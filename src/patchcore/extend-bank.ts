// Adding good images to a bank without refitting: embed them with the bank's own backbone and
// head, continue the greedy coreset from the rows already in the bank (a new patch is picked
// when it is far from every row there), append the picked rows, and recalibrate the threshold
// on the held-out good images the fit recorded. Cost: the new images only, plus one pass over
// the bank rows for the starting distances.
import { existsSync } from 'node:fs';
import { basename, resolve } from 'node:path';
import type { ResolvedBackbone } from '../model/backbone.js';
import type { InferenceRuntime } from '../model/inference-runtime.js';
import { loadBatch } from '../preprocess/batch.js';
import type { Bank, BankManifest, Calibration } from './bank-file.js';
import { continueCoresetOfPoints, PROJECTION_DIM, Projector, randomProjection } from './coreset.js';
import { EmbeddingSpool } from './embedding-spool.js';
import { Embedder } from './embedder.js';
import { calibrateBank, forEachBatch, type FitProgress, type FitResult } from './fit.js';

export interface ExtendOptions {
  /** Rows to add; default: the bank's coreset share of the new patches (at least 1). */
  budget?: number;
  batchSize: number;
  /** Folder the images came from, for the manifest. */
  folder: string;
  workDir?: string;
  /** What the new bank says it came from (a store's `recipe@vN`). */
  parent?: string;
}

export interface ExtendResult {
  manifest: FitResult['manifest'];
  rows: Float32Array;
  /** Patches of the new images, and rows added from them. */
  patches: number;
  added: number;
  /** How the threshold was set: recalibrated on the recorded held-out images, or kept. */
  threshold: { before: number; after: number; how: string };
  timings: { embedMs: number; coresetMs: number; calibrateMs: number };
}

/** The default row budget: what a fit would have kept of these patches. */
export function defaultBudget(manifest: Pick<BankManifest, 'coreset'>, patches: number): number {
  if (manifest.coreset.method === 'identity') return patches;
  return Math.min(patches, Math.max(1, Math.floor(patches * manifest.coreset.percentage)));
}

export async function extendBank(
  runtime: InferenceRuntime,
  bank: Bank,
  backbone: ResolvedBackbone,
  files: string[],
  opts: ExtendOptions,
  progress: FitProgress,
): Promise<ExtendResult> {
  if (files.length === 0) throw new RangeError('no images to add');
  const m = bank.manifest;
  const dim = m.head.targetDim;
  const embedder = await Embedder.forBank(runtime, backbone, m, 'extend');
  const per = embedder.grid.height * embedder.grid.width;
  const patches = files.length * per;
  const budget = opts.budget ?? defaultBudget(m, patches);
  if (!Number.isInteger(budget) || budget < 1 || budget > patches)
    throw new RangeError(`row budget must be an integer in [1, ${patches}] (the new images' patches), got ${budget}`);

  const t0 = performance.now();
  const spool = new EmbeddingSpool(dim, opts.workDir);
  let newRows: Float32Array;
  let embedMs: number;
  let coresetMs: number;
  try {
    const projector =
      dim !== PROJECTION_DIM ? await Projector.create(runtime, dim, randomProjection(dim, m.coreset.seed), 'extend/project') : undefined;
    const points = new Float32Array(patches * PROJECTION_DIM);
    const bar = progress.stage('embed', files.length, 'images');
    try {
      await forEachBatch(
        files,
        opts.batchSize,
        (paths) => loadBatch(paths, m.input.resize, m.input.normalization),
        async (batch, start) => {
          const e = await embedder.embed(batch);
          spool.append(e.data);
          points.set(projector ? await projector.project(e.data) : e.data, start * per * PROJECTION_DIM);
          bar.tick(e.images);
        },
      );
    } finally {
      bar.stop();
    }
    embedMs = performance.now() - t0;
    const t1 = performance.now();
    // The bank's rows projected as its coreset was (same seed): the centres already chosen.
    const chosen = projector ? await projector.project(bank.rows) : bank.rows;
    await projector?.release();
    await runtime.release(embedder.backboneSession);
    await runtime.release(embedder.headSession);
    let picks: Int32Array;
    if (budget === patches) picks = Int32Array.from({ length: patches }, (_, i) => i);
    else {
      const cbar = progress.stage('coreset', budget, 'picks');
      let last = 0;
      try {
        picks = await continueCoresetOfPoints(runtime, points, chosen, budget, {}, (done) => {
          cbar.tick(done - last);
          last = done;
        });
      } finally {
        cbar.stop();
      }
    }
    newRows = spool.gather(picks);
    coresetMs = performance.now() - t1;
  } finally {
    spool.close();
  }

  const rows = new Float32Array(bank.rows.length + newRows.length);
  rows.set(bank.rows);
  rows.set(newRows, bank.rows.length);
  const { format: _f, version: _v, dataSha256: _d, ...kept } = m;
  const manifest: FitResult['manifest'] = {
    ...kept,
    createdAt: new Date().toISOString(),
    coreset: { ...m.coreset, inputRows: m.coreset.inputRows + patches, rows: rows.length / dim },
    training: {
      ...m.training,
      images: m.training.images + files.length,
      bankImages: m.training.bankImages + files.length,
      additions: [
        ...(m.training.additions ?? []),
        {
          at: new Date().toISOString(),
          folder: resolve(opts.folder),
          images: files.length,
          patches,
          rows: newRows.length / dim,
          files: files.map((f) => basename(f)),
        },
      ],
    },
    origin: { action: 'add', ...(opts.parent ? { parent: opts.parent } : {}), note: `${files.length} images from ${opts.folder}` },
  };

  const t2 = performance.now();
  const before = m.calibration.threshold;
  const recal = await recalibrate(runtime, { manifest, rows }, backbone, opts.batchSize, progress);
  manifest.calibration = recal.calibration;
  const calibrateMs = performance.now() - t2;
  return {
    manifest,
    rows,
    patches,
    added: newRows.length / dim,
    threshold: { before, after: manifest.calibration.threshold, how: recal.how },
    timings: { embedMs, coresetMs, calibrateMs },
  };
}

/**
 * The threshold of an updated bank: the fit's rule (quantile x (1 + margin)) on the held-out
 * good images it recorded, if they are all still there; otherwise the threshold is kept (a
 * threshold from a validation folder or from reviews is a decision, not a statistic: kept too).
 */
export async function recalibrate(
  runtime: InferenceRuntime,
  bank: { manifest: FitResult['manifest']; rows: Float32Array },
  backbone: ResolvedBackbone,
  batchSize: number,
  progress: FitProgress,
): Promise<{ calibration: Calibration; how: string }> {
  const c = bank.manifest.calibration;
  const files = bank.manifest.training.holdoutFiles ?? [];
  if (c.method !== 'holdout-quantile' || c.quantile === undefined || c.margin === undefined)
    return { calibration: c, how: `kept (set by ${c.method})` };
  if (files.length === 0) return { calibration: c, how: 'kept (the bank records no held-out images)' };
  const missing = files.filter((f) => !existsSync(f));
  if (missing.length > 0)
    return { calibration: c, how: `kept (${missing.length} of ${files.length} held-out images are gone, e.g. ${missing[0]})` };
  const { calibration } = await calibrateBank(
    runtime,
    bank,
    backbone,
    files.map((path) => ({ path, label: 0 as const })),
    { calibration: { quantile: c.quantile, margin: c.margin }, validation: false, batchSize },
    progress,
  );
  return { calibration, how: `recalibrated on ${files.length} held-out good images` };
}
