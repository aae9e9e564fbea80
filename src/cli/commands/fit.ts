// `patchline fit`: good images -> memory bank file.
import { testSamples, trainingImages } from '../../io/dataset.js';
import { InferenceRuntime } from '../../model/inference-runtime.js';
import { writeBank } from '../../patchcore/bank-file.js';
import type { CoresetMethod } from '../../patchcore/coreset.js';
import { FIT_DEFAULTS, fitBank } from '../../patchcore/fit.js';
import { intOption, numberOption, optionalString, parseCommand, requireString, UsageError, type CommandSpec } from '../args.js';
import { BACKBONE_OPTIONS, backboneChoice, HEAD_OPTIONS, headParams, RESIZE_OPTIONS, resizePolicy } from '../common-options.js';
import { progress } from '../progress.js';

export const fitCommand: CommandSpec = {
  name: 'fit',
  summary: 'build a memory bank (coreset of patch embeddings) from images of good product',
  usage: ['patchline fit --data DIR --backbone SPEC_OR_ONNX --layers a,b [--coreset 0.01] --out BANK'],
  options: {
    data: { type: 'string', value: 'DIR', help: 'MVTec-layout category (uses train/good) or a folder of good images' },
    out: { type: 'string', value: 'BANK', help: 'bank file to write (safetensors layout, docs/bank-format.md)' },
    coreset: {
      type: 'string',
      value: 'SHARE',
      default: String(FIT_DEFAULTS.coreset.percentage),
      help: 'share of patch embeddings kept in the bank',
    },
    'coreset-method': {
      type: 'string',
      value: 'M',
      default: FIT_DEFAULTS.coreset.method,
      help: 'approximate (reference default), greedy (exact, O(N^2)) or identity (keep all)',
    },
    seed: {
      type: 'string',
      value: 'N',
      default: String(FIT_DEFAULTS.coreset.seed),
      help: 'seed of the coreset projection and start points',
    },
    k: { type: 'string', value: 'K', default: String(FIT_DEFAULTS.k), help: 'nearest neighbours averaged into a patch score' },
    sigma: {
      type: 'string',
      value: 'S',
      default: String(FIT_DEFAULTS.mapSigma),
      help: 'Gaussian smoothing of anomaly maps (pixels; 0 = none)',
    },
    holdout: {
      type: 'string',
      value: 'SHARE',
      default: String(FIT_DEFAULTS.holdout),
      help: 'share of the good images kept out of the bank to calibrate the threshold (0 = none)',
    },
    quantile: {
      type: 'string',
      value: 'Q',
      default: String(FIT_DEFAULTS.calibration.quantile),
      help: 'threshold = this quantile of held-out good scores ...',
    },
    margin: { type: 'string', value: 'M', default: String(FIT_DEFAULTS.calibration.margin), help: '... times (1 + margin)' },
    validation: {
      type: 'string',
      value: 'DIR',
      help: 'labelled folder (MVTec test layout): F1-optimal threshold instead of the holdout quantile',
    },
    batch: { type: 'string', value: 'N', default: String(FIT_DEFAULTS.batchSize), help: 'images per backbone run' },
    'work-dir': {
      type: 'string',
      value: 'DIR',
      help: 'folder for the temporary embedding file (needs ~ images x patches x dim x 4 bytes; default: OS temp)',
    },
    ...BACKBONE_OPTIONS,
    ...HEAD_OPTIONS,
    ...RESIZE_OPTIONS,
  },
  notes: 'Progress and ETA go to stderr. The bank records the backbone sha256, layers, preprocessing, head, k and calibration.',
};

export async function runFit(argv: string[]): Promise<void> {
  const cmd = fitCommand;
  const v = parseCommand(cmd, argv);
  if (!v) return;
  const data = requireString(cmd, v, 'data');
  const out = requireString(cmd, v, 'out');
  const method = String(v['coreset-method']) as CoresetMethod;
  if (!['approximate', 'greedy', 'identity'].includes(method))
    throw new UsageError(`patchline fit: --coreset-method must be approximate, greedy or identity, got '${method}'`);
  const percentage = numberOption(cmd, v, 'coreset', { min: 0, max: 1 });
  if (percentage <= 0 && method !== 'identity')
    throw new UsageError(`patchline fit: --coreset must be > 0 (or use --coreset-method identity), got ${percentage}`);
  const { backbone, layers, threads } = backboneChoice(cmd, v);
  const head = headParams(cmd, v);
  const resize = resizePolicy(cmd, v);
  const holdout = numberOption(cmd, v, 'holdout', { min: 0, max: 0.9 });
  let files: string[];
  let validation;
  try {
    files = trainingImages(data);
    const valDir = optionalString(v, 'validation');
    validation = valDir ? testSamples(valDir) : undefined;
  } catch (e) {
    throw new UsageError(`patchline fit: ${(e as Error).message}`);
  }
  const runtime = new InferenceRuntime(threads ? { intraOpThreads: threads } : {});
  try {
    process.stderr.write(
      `fit: ${files.length} images from ${data}, backbone ${backbone.spec.name} [${layers.join(', ')}], coreset ${method} ${percentage}\n`,
    );
    const result = await fitBank(
      runtime,
      files,
      {
        backbone,
        backboneRef: optionalString(v, 'backbone') ?? backbone.spec.name,
        layers,
        head,
        resize,
        coreset: { method, percentage: method === 'identity' ? 1 : percentage, seed: intOption(cmd, v, 'seed', 0) },
        k: intOption(cmd, v, 'k'),
        mapSigma: numberOption(cmd, v, 'sigma', { min: 0 }),
        holdout: validation ? 0 : holdout,
        calibration: {
          quantile: numberOption(cmd, v, 'quantile', { min: 0, max: 1 }),
          margin: numberOption(cmd, v, 'margin', { min: -0.5 }),
        },
        validation,
        batchSize: intOption(cmd, v, 'batch'),
        folder: data,
        workDir: optionalString(v, 'work-dir'),
      },
      { stage: (name, total, unit) => progress(name, total, unit) },
    );
    const manifest = writeBank(out, result.manifest, result.rows);
    const c = manifest.calibration;
    process.stderr.write(
      `wrote ${out}: ${manifest.coreset.rows} of ${manifest.coreset.inputRows} patch embeddings (${manifest.head.targetDim} dims), ` +
        `threshold ${Number.isNaN(c.threshold) ? 'none (no holdout or validation images)' : `${c.threshold.toFixed(3)} (${c.method})`}; ` +
        `embedding ${(result.timings.embedMs / 1000).toFixed(1)} s, coreset ${(result.timings.coresetMs / 1000).toFixed(1)} s, calibration ${(result.timings.calibrateMs / 1000).toFixed(1)} s\n`,
    );
  } finally {
    await runtime.close();
  }
}
