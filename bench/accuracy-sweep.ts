// The Magnetic Tile sweep behind docs/ACCURACY.md: fit + eval of each configuration with the
// zoo MobileNetV2, one JSON line per configuration (and variant) on stdout.
// Usage: node --import tsx bench/accuracy-sweep.ts [DATASET_DIR] [--only=NAME,...]
import { join, resolve } from 'node:path';
import { testSamples, trainingImages } from '../src/io/dataset.js';
import { modelDir, resolveBackbone } from '../src/model/backbone.js';
import { InferenceRuntime } from '../src/model/inference-runtime.js';
import { computeMetrics, scoreSamples } from '../src/eval/evaluate.js';
import { FIT_DEFAULTS, fitBank } from '../src/patchcore/fit.js';
import { PatchCore } from '../src/patchcore/patchcore.js';
import type { ResizePolicy } from '../src/preprocess/transform.js';
import { unsavedBank } from '../src/patchcore/bank-file.js';

interface Config {
  name: string;
  layers: string[];
  size: [number, number];
  pretrainDim: number;
  targetDim: number;
  coreset: number;
  /** Scoring variants evaluated on the same bank. */
  variants: { k: number; sigma: number }[];
}

const CONFIGS: Config[] = [
  {
    name: 'f6+f13@224',
    layers: ['features.6', 'features.13'],
    size: [224, 224],
    pretrainDim: 256,
    targetDim: 512,
    coreset: 0.01,
    variants: [
      { k: 1, sigma: 4 },
      { k: 1, sigma: 8 },
    ],
  },
  {
    name: 'f6+f13+f16@224',
    layers: ['features.6', 'features.13', 'features.16'],
    size: [224, 224],
    pretrainDim: 256,
    targetDim: 768,
    coreset: 0.01,
    variants: [
      { k: 1, sigma: 4 },
      { k: 1, sigma: 8 },
    ],
  },
  {
    name: 'f13+f16@224',
    layers: ['features.13', 'features.16'],
    size: [224, 224],
    pretrainDim: 256,
    targetDim: 512,
    coreset: 0.05,
    variants: [
      { k: 1, sigma: 4 },
      { k: 1, sigma: 8 },
    ],
  },
  {
    name: 'f6+f13@320',
    layers: ['features.6', 'features.13'],
    size: [320, 320],
    pretrainDim: 256,
    targetDim: 512,
    coreset: 0.01,
    variants: [
      { k: 1, sigma: 4 },
      { k: 1, sigma: 8 },
    ],
  },
  {
    name: 'f10+f16@320',
    layers: ['features.10', 'features.16'],
    size: [320, 320],
    pretrainDim: 256,
    targetDim: 512,
    coreset: 0.05,
    variants: [
      { k: 1, sigma: 4 },
      { k: 1, sigma: 8 },
    ],
  },
  {
    name: 'f13+f17@224',
    layers: ['features.13', 'features.17'],
    size: [224, 224],
    pretrainDim: 256,
    targetDim: 512,
    coreset: 0.05,
    variants: [
      { k: 1, sigma: 8 },
      { k: 3, sigma: 8 },
    ],
  },
  {
    name: 'f13+f16+f18@224',
    layers: ['features.13', 'features.16', 'features.18'],
    size: [224, 224],
    pretrainDim: 256,
    targetDim: 768,
    coreset: 0.05,
    variants: [{ k: 1, sigma: 8 }],
  },
  {
    name: 'f13+f16@320',
    layers: ['features.13', 'features.16'],
    size: [320, 320],
    pretrainDim: 256,
    targetDim: 512,
    coreset: 0.05,
    variants: [{ k: 1, sigma: 8 }],
  },
  {
    name: 'f13+f16@224/10%',
    layers: ['features.13', 'features.16'],
    size: [224, 224],
    pretrainDim: 256,
    targetDim: 512,
    coreset: 0.1,
    variants: [
      { k: 1, sigma: 8 },
      { k: 1, sigma: 16 },
    ],
  },
  {
    name: 'f13+f16@224/25%',
    layers: ['features.13', 'features.16'],
    size: [224, 224],
    pretrainDim: 256,
    targetDim: 512,
    coreset: 0.25,
    variants: [
      { k: 1, sigma: 16 },
      { k: 1, sigma: 24 },
    ],
  },
];

const args = process.argv.slice(2);
const data = resolve(
  args.find((a) => !a.startsWith('--')) ?? join(process.env.PATCHLINE_SHARED_DIR ?? '../shared', 'datasets', 'magnetic-tile'),
);
const only = args
  .find((a) => a.startsWith('--only='))
  ?.slice(7)
  .split(',');
const backbone = resolveBackbone('mobilenetv2', modelDir());
const quiet = { stage: () => ({ tick() {}, stop() {} }) };
const runtime = new InferenceRuntime();
const train = trainingImages(data);
const test = testSamples(data);
for (const c of CONFIGS.filter((c) => !only || only.includes(c.name))) {
  const resize: ResizePolicy = { mode: 'exact', width: c.size[0], height: c.size[1] };
  const t0 = performance.now();
  const fit = await fitBank(
    runtime,
    train,
    {
      ...FIT_DEFAULTS,
      backbone,
      backboneRef: 'mobilenetv2',
      layers: c.layers,
      head: { ...FIT_DEFAULTS.head, pretrainDim: c.pretrainDim, targetDim: c.targetDim },
      resize,
      coreset: { ...FIT_DEFAULTS.coreset, percentage: c.coreset },
      folder: data,
    },
    quiet,
  );
  const fitSeconds = (performance.now() - t0) / 1000;
  for (const v of c.variants) {
    const bank = unsavedBank({ ...fit.manifest, scorer: { k: v.k, mapSigma: v.sigma } }, fit.rows);
    const manifest = bank.manifest;
    const model = await PatchCore.load(runtime, bank, backbone, 'sweep');
    const scored = await scoreSamples(model, test, resize, 8, () => {});
    const m = computeMetrics(scored, manifest.calibration.threshold, c.size[0]);
    await model.release();
    const round = (x: number | null) => (x === null ? null : Math.round(x * 10000) / 10000);
    process.stdout.write(
      `${JSON.stringify({
        config: c.name,
        ...v,
        coreset: c.coreset,
        dims: [c.pretrainDim, c.targetDim],
        image_auroc: round(m.image_auroc),
        pixel_auroc: round(m.pixel_auroc),
        pixel_auroc_anomalous: round(m.pixel_auroc_anomalous),
        aupro: round(m.aupro),
        f1: round(m.f1),
        per_defect: Object.fromEntries(Object.entries(m.per_defect).map(([d, b]) => [d, [round(b.image_auroc), round(b.pixel_auroc)]])),
        fit_s: Math.round(fitSeconds),
      })}\n`,
    );
  }
}
await runtime.close();
