// Measuring one embedding recipe: one fit at the largest coreset share (a smaller share's bank is
// a prefix of it: the greedy coreset picks in order), then, per share and k, one scoring pass over
// the validation images whose patch scores serve every smoothing sigma, and a timed run of the
// scoring path as the service loads it. Image scores, maps and masks are computed exactly as
// `patchline eval` computes them, so a bank fitted with the chosen recipe reproduces the numbers.
import type { TestSample } from '../io/dataset.js';
import type { ResolvedBackbone } from '../model/backbone.js';
import type { InferenceRuntime } from '../model/inference-runtime.js';
import { computeMetrics, predictSamples, scoreSamples, type EvalReport, type ScoredSample } from '../eval/evaluate.js';
import { anomalyMap } from '../patchcore/anomaly-map.js';
import { unsavedBank, type Bank } from '../patchcore/bank-file.js';
import { FIT_DEFAULTS, fitBank, type FitProgress, type FitResult } from '../patchcore/fit.js';
import { PatchCore } from '../patchcore/patchcore.js';
import { imagesToBatch } from '../preprocess/batch.js';
import { readImage } from '../preprocess/decode.js';
import { outputSize } from '../preprocess/transform.js';
import type { Accuracy } from './pareto.js';
import type { EmbeddingRecipe, ScoringVariant } from './search-space.js';

/** Images per backbone run when scoring (as `patchline eval` by default). */
export const SCORE_BATCH = 8;

export interface FitSettings {
  backbone: ResolvedBackbone;
  backboneRef: string;
  training: string[];
  data: string;
  holdout: number;
  seed: number;
  workDir?: string;
}

/** `patchline fit`'s defaults with the recipe's choices: what the recommended recipe's bank is fitted with. */
export function fitRecipe(
  runtime: InferenceRuntime,
  s: FitSettings,
  recipe: EmbeddingRecipe,
  scoring: ScoringVariant,
  progress: FitProgress,
  validation?: TestSample[],
): Promise<FitResult> {
  return fitBank(
    runtime,
    s.training,
    {
      ...FIT_DEFAULTS,
      backbone: s.backbone,
      backboneRef: s.backboneRef,
      layers: recipe.layers,
      head: recipe.head,
      resize: recipe.resize,
      coreset: { method: 'approximate', percentage: scoring.coreset, seed: s.seed },
      k: scoring.k,
      mapSigma: scoring.sigma,
      holdout: s.holdout,
      folder: s.data,
      ...(s.workDir ? { workDir: s.workDir } : {}),
      ...(validation ? { validation } : {}),
    },
    progress,
  );
}

/** The bank of a smaller share (and another k or sigma) cut from a fit at a larger one. */
export function bankVariant(fit: FitResult, v: ScoringVariant): Bank {
  const m = fit.manifest;
  const rows = Math.floor(m.coreset.inputRows * v.coreset);
  if (rows < 1) throw new RangeError(`coreset share ${v.coreset} keeps no row of ${m.coreset.inputRows}`);
  if (rows > m.coreset.rows) throw new RangeError(`coreset share ${v.coreset} needs ${rows} rows, the fit kept ${m.coreset.rows}`);
  return unsavedBank(
    { ...m, scorer: { k: v.k, mapSigma: v.sigma }, coreset: { ...m.coreset, percentage: v.coreset, rows } },
    fit.rows.subarray(0, rows * m.head.targetDim),
  );
}

function accuracy(r: Pick<EvalReport, 'image_auroc' | 'pixel_auroc' | 'aupro'>): Accuracy {
  return { image_auroc: r.image_auroc, pixel_auroc: r.pixel_auroc, aupro: r.aupro };
}

/** Image scores and patch scores of every validation sample, and their masks at the model size. */
interface ScorePass {
  imageScores: Float32Array;
  patchScores: Float32Array[];
}

/** Scores the validation images for the banks of one embedding recipe (one input geometry). */
export class ValidationScorer {
  /** Masks at the model size, per sample (good: all zero; a defect without mask: undefined). */
  private masks: (Uint8Array | undefined)[] | undefined;

  constructor(
    private readonly runtime: InferenceRuntime,
    private readonly backbone: ResolvedBackbone,
    readonly samples: TestSample[],
  ) {}

  /** Accuracy of `bank` for each sigma, and frames/s of its scoring path. */
  async measure(bank: Bank, sigmas: number[], onImages: (n: number) => void): Promise<{ accuracy: Accuracy[]; fps: number }> {
    const pass = await this.score(bank, onImages);
    const m = bank.manifest;
    const { width, height } = outputSize(m.input.resize);
    const perSigma = sigmas.map((sigma) => {
      const scored: ScoredSample[] = this.samples.map((s, i) => ({
        ...s,
        score: pass.imageScores[i]!,
        map: anomalyMap(pass.patchScores[i]!, m.grid.height, m.grid.width, height, width, sigma),
        mask: this.masks![i],
      }));
      return accuracy(computeMetrics(scored, null, width));
    });
    return { accuracy: perSigma, fps: await this.framesPerSecond(bank) };
  }

  private async score(bank: Bank, onImages: (n: number) => void): Promise<ScorePass> {
    const model = await PatchCore.load(this.runtime, bank, this.backbone, 'tune/score');
    const masks: (Uint8Array | undefined)[] = [];
    const imageScores = new Float32Array(this.samples.length);
    const patchScores: Float32Array[] = [];
    const per = bank.manifest.grid.height * bank.manifest.grid.width;
    try {
      // Masks depend on the input geometry only, which every bank of this scorer shares.
      await predictSamples(
        model,
        this.samples,
        bank.manifest.input.resize,
        SCORE_BATCH,
        onImages,
        (index, p, i, mask) => {
          imageScores[index] = p.imageScores[i]!;
          patchScores.push(p.patchScores.slice(i * per, (i + 1) * per));
          masks.push(mask);
        },
        !this.masks,
      );
    } finally {
      await model.release();
    }
    this.masks ??= masks;
    return { imageScores, patchScores };
  }

  /** Frames/s of the scoring path as the service loads it (anomaly maps in the graph, batches of one). */
  private async framesPerSecond(bank: Bank): Promise<number> {
    const model = await PatchCore.load(this.runtime, bank, this.backbone, { prefix: 'tune/time', maps: 'graph', maxBatch: 1 });
    const { resize, normalization } = bank.manifest.input;
    try {
      const inputs = await Promise.all(
        this.samples.slice(0, 8).map(async (s) => imagesToBatch([await readImage(s.path, 'rgb')], resize, normalization)),
      );
      const run = (i: number) => {
        const t = inputs[i % inputs.length]!;
        return model.predict({ data: t.data.slice(), dims: t.dims });
      };
      await run(0);
      const times: number[] = [];
      const start = performance.now();
      for (let i = 0; times.length < 16 || performance.now() - start < 1000; i++) {
        const t0 = performance.now();
        await run(i);
        times.push(performance.now() - t0);
      }
      times.sort((a, b) => a - b);
      return 1000 / times[Math.floor(times.length / 2)]!;
    } finally {
      await model.release();
    }
  }
}

/** A bank's accuracy on labelled samples, computed as `patchline eval` computes it. */
export async function evaluateBank(
  runtime: InferenceRuntime,
  bank: Bank,
  backbone: ResolvedBackbone,
  samples: TestSample[],
  onImages: (n: number) => void,
): Promise<Accuracy> {
  const model = await PatchCore.load(runtime, bank, backbone, 'tune/check');
  try {
    const scored = await scoreSamples(model, samples, bank.manifest.input.resize, SCORE_BATCH, onImages);
    return accuracy(computeMetrics(scored, null, bank.manifest.input.width));
  } finally {
    await model.release();
  }
}
