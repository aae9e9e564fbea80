// `patchline eval`: score a labelled folder with a fitted model and compute the reference's
// metrics (image AUROC, pixel AUROC) plus AUPRO, F1 at the calibrated threshold and a
// per-defect breakdown.
import type { TestSample } from '../io/dataset.js';
import { readImage } from '../preprocess/decode.js';
import { imagesToBatch } from '../preprocess/batch.js';
import type { ResizePolicy } from '../preprocess/transform.js';
import { f1AtThreshold } from '../patchcore/calibration.js';
import { aurocSplit, auroc, ProAccumulator } from './auc.js';
import type { PatchCore, Prediction } from '../patchcore/patchcore.js';
import { forEachBatch } from '../patchcore/fit.js';
import { loadMask } from './masks.js';
import { labelRegions } from '../imaging/connected-regions.js';

export interface ScoredSample extends TestSample {
  score: number;
  /** Anomaly map at the model input size. */
  map: Float32Array;
  /** Binary ground truth at the model input size; undefined for a defect labelled at image level only. */
  mask: Uint8Array | undefined;
}

export interface DefectBreakdown {
  images: number;
  image_auroc: number;
  /** null: no image of this defect has a mask. */
  pixel_auroc: number | null;
  /** Images at or above the threshold; null without a threshold. */
  detected: number | null;
  recall: number | null;
}

export interface EvalReport {
  image_auroc: number;
  /** Pixel metrics cover good images and the defect images that have masks; null when none has. */
  pixel_auroc: number | null;
  pixel_auroc_anomalous: number | null;
  aupro: number | null;
  aupro_fpr_limit: number;
  f1: number | null;
  precision: number | null;
  recall: number | null;
  threshold: number | null;
  per_defect: Record<string, DefectBreakdown>;
  counts: {
    images: number;
    good: number;
    defective: number;
    /** Defect images with a ground-truth mask (the rest are labelled at image level). */
    defective_with_masks: number;
    defect_pixels: number;
    pixels: number;
    masks_empty_after_transform: number;
  };
  bank: { path: string; backbone: string; layers: string[]; rows: number; k: number };
  timing: { seconds: number; ms_per_image: number };
}

/**
 * Runs `model` over `samples` in batches and hands each prediction to `each` in sample order,
 * with the sample's ground truth at the model size when `masks` is set (good: all zero; a
 * defect without a mask: undefined).
 */
export async function predictSamples(
  model: PatchCore,
  samples: TestSample[],
  policy: ResizePolicy,
  batchSize: number,
  onImages: (n: number) => void,
  each: (index: number, p: Prediction, inBatch: number, mask: Uint8Array | undefined) => void,
  masks = true,
): Promise<void> {
  const { width, height } = model.manifest.input;
  await forEachBatch(
    samples.map((s) => s.path),
    batchSize,
    async (paths) => {
      const images = await Promise.all(paths.map((p) => readImage(p, 'rgb')));
      const batch = imagesToBatch(images, policy, model.manifest.input.normalization);
      return Object.assign(batch, { sizes: images.map((i) => ({ width: i.width, height: i.height })) });
    },
    async (batch, start) => {
      const sizes = (batch as typeof batch & { sizes: { width: number; height: number }[] }).sizes;
      const p = await model.predict(batch);
      for (let i = 0; i < p.imageScores.length; i++) {
        const s = samples[start + i]!;
        const mask = !masks
          ? undefined
          : s.maskPath
            ? await loadMask(s.maskPath, sizes[i]!, policy)
            : s.label === 0
              ? new Uint8Array(width * height)
              : undefined;
        each(start + i, p, i, mask);
      }
      onImages(p.imageScores.length);
    },
  );
}

export async function scoreSamples(
  model: PatchCore,
  samples: TestSample[],
  policy: ResizePolicy,
  batchSize: number,
  onImages: (n: number) => void,
): Promise<ScoredSample[]> {
  const out: ScoredSample[] = [];
  await predictSamples(model, samples, policy, batchSize, onImages, (index, p, i, mask) =>
    out.push({ ...samples[index]!, score: p.imageScores[i]!, map: p.map(i), mask }),
  );
  return out;
}

type Masked = ScoredSample & { mask: Uint8Array };

function pixelAuroc(samples: Masked[]): number {
  let pos = 0;
  let total = 0;
  for (const s of samples) {
    total += s.mask.length;
    for (let i = 0; i < s.mask.length; i++) pos += s.mask[i]!;
  }
  const p = new Float32Array(pos);
  const n = new Float32Array(total - pos);
  let a = 0;
  let b = 0;
  for (const s of samples) for (let i = 0; i < s.mask.length; i++) s.mask[i] ? (p[a++] = s.map[i]!) : (n[b++] = s.map[i]!);
  return aurocSplit(p, n);
}

/** `width`: the maps' width (model input width). */
export function computeMetrics(
  scored: ScoredSample[],
  threshold: number | null,
  width: number,
  fprLimit = 0.3,
): Omit<EvalReport, 'bank' | 'timing'> {
  const labels = scored.map((s) => s.label);
  const scores = scored.map((s) => s.score);
  const masked = scored.filter((s): s is Masked => s.mask !== undefined);
  const defectsMasked = masked.filter((s) => s.label === 1).length;
  const defectPixels = (s: Masked) => s.mask.reduce((a, b) => a + b, 0);
  const anomalous = masked.filter((s) => defectPixels(s) > 0);
  const pro = new ProAccumulator();
  for (const s of masked) {
    const h = s.map.length / width;
    const { labels: regions, sizes } = labelRegions(s.mask, width, h);
    pro.add(s.map, regions, sizes);
  }
  const perDefect: Record<string, DefectBreakdown> = {};
  const good = scored.filter((s) => s.label === 0);
  for (const defect of [...new Set(scored.filter((s) => s.label === 1).map((s) => s.defect))].sort()) {
    const these = scored.filter((s) => s.defect === defect);
    const subset = [...good, ...these];
    const subsetMasked = subset.filter((s): s is Masked => s.mask !== undefined);
    const detected = threshold === null ? null : these.filter((s) => s.score >= threshold).length;
    perDefect[defect] = {
      images: these.length,
      image_auroc: auroc(
        subset.map((s) => s.score),
        subset.map((s) => s.label),
      ),
      pixel_auroc: these.some((s) => s.mask) ? pixelAuroc(subsetMasked) : null,
      detected,
      recall: detected === null ? null : detected / these.length,
    };
  }
  const f1 = threshold === null ? null : f1AtThreshold(scores, labels, threshold);
  return {
    image_auroc: auroc(scores, labels),
    pixel_auroc: defectsMasked > 0 ? pixelAuroc(masked) : null,
    pixel_auroc_anomalous: defectsMasked > 0 ? pixelAuroc(anomalous) : null,
    aupro: defectsMasked > 0 ? pro.aupro(fprLimit) : null,
    aupro_fpr_limit: fprLimit,
    f1: f1?.f1 ?? null,
    precision: f1?.precision ?? null,
    recall: f1?.recall ?? null,
    threshold,
    per_defect: perDefect,
    counts: {
      images: scored.length,
      good: good.length,
      defective: scored.length - good.length,
      defective_with_masks: defectsMasked,
      defect_pixels: masked.reduce((a, s) => a + defectPixels(s), 0),
      pixels: masked.reduce((a, s) => a + s.mask.length, 0),
      masks_empty_after_transform: masked.filter((s) => s.label === 1 && defectPixels(s) === 0).length,
    },
  };
}
