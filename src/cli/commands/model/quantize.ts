// `patchline model quantize`: a float backbone -> int8 QDQ backbone + spec, calibrated on good
// images, refused when a feature layer drifts further from the float graph than --max-error.
import { basename, dirname, join } from 'node:path';
import { expandImageArgs } from '../../../io/image-files.js';
import { writeFileAtomic } from '../../../io/atomic-file.js';
import { derivedSpec, sha256 } from '../../../model/backbone.js';
import { InferenceRuntime } from '../../../model/inference-runtime.js';
import { quantizeBackbone } from '../../../model/quantize-backbone.js';
import { QuantizationError } from '../../../model/quantize-graph.js';
import { intOption, numberOption, optionalString, parseCommand, requireString, UsageError, type CommandSpec } from '../../args.js';
import { backboneArg, listOption, MODEL_DIR_OPTION, onnxOutOption, RESIZE_OPTIONS, resizePolicy } from '../../common-options.js';
import { progress } from '../../progress.js';

/**
 * Measured (docs/ACCURACY.md): ResNets stay near 0.03; MobileNetV2, hard for int8 with its
 * depthwise convolutions, reaches 0.15-0.22 with detection AUROCs still within 0.01 of float;
 * a calibration that clips too much (percentile 99.9 there) reaches 0.5.
 */
export const DEFAULT_MAX_ERROR = 0.25;

export const modelQuantizeCommand: CommandSpec = {
  name: 'model quantize',
  summary: 'post-training int8 quantization of a float backbone (QDQ graph + spec), calibrated on good images, with a feature-error guard',
  usage: [
    'patchline model quantize SPEC_OR_ONNX --calibration DIR --out OUT.onnx [--layers a,b] [--images N] [--method minmax|percentile] [--target cpu|tensorrt] [--max-error E]',
  ],
  positional: 'model',
  options: {
    calibration: { type: 'string', value: 'DIR', help: "good images of the product (a folder, e.g. an MVTec category's train/good)" },
    out: { type: 'string', value: 'OUT.onnx', help: 'int8 graph to write; its backbone spec is written beside it as OUT.json' },
    layers: {
      type: 'string',
      value: 'a,b',
      help: "feature layers the quantized graph provides (default: the backbone's defaultLayers; for a bare .onnx: graph tensor names)",
    },
    images: { type: 'string', value: 'N', default: '32', help: 'calibration images taken from DIR (evenly spread, name order)' },
    method: {
      type: 'string',
      value: 'M',
      default: 'minmax',
      help: 'activation ranges: minmax, or percentile (clips rare outliers; see --percentile)',
    },
    percentile: { type: 'string', value: 'P', default: '99.99', help: 'with --method percentile: the range covers P % of values' },
    target: {
      type: 'string',
      value: 'T',
      default: 'cpu',
      help: 'cpu: uint8 activations (onnxruntime u8s8); tensorrt: int8 symmetric activations (explicit quantization)',
    },
    'reduce-range': {
      type: 'string',
      value: 'auto|yes|no',
      default: 'auto',
      help: '7-bit weights; auto: on x86 CPUs without VNNI, where u8s8 kernels saturate',
    },
    'max-error': {
      type: 'string',
      value: 'E',
      default: String(DEFAULT_MAX_ERROR),
      help: 'refuse (exit 2, nothing written) when a layer relative feature error ||int8 - fp32|| / ||fp32|| exceeds E',
    },
    batch: { type: 'string', value: 'N', default: '4', help: 'images per run' },
    ...RESIZE_OPTIONS,
    'model-dir': MODEL_DIR_OPTION,
  },
  notes:
    'Use the resize options you fit with. The spec OUT.json names the same layers, so fit, eval, run and model fuse take it as --backbone OUT.json. Exit 2 on bad arguments, an already quantized backbone, or a feature error above --max-error.',
};

/** `count` files spread evenly over the sorted list, so calibration sees the whole folder. */
function spread(files: string[], count: number): string[] {
  if (files.length <= count) return files;
  return Array.from({ length: count }, (_, i) => files[Math.floor((i * files.length) / count)]!);
}

export async function runModelQuantize(argv: string[]): Promise<void> {
  const cmd = modelQuantizeCommand;
  const v = parseCommand(cmd, argv);
  if (!v) return;
  const model = optionalString(v, 'model');
  if (!model) throw new UsageError('patchline model quantize: SPEC_OR_ONNX is required');
  const out = onnxOutOption(cmd, v);
  const method = String(v.method);
  if (method !== 'minmax' && method !== 'percentile')
    throw new UsageError(`patchline model quantize: --method must be minmax or percentile, got '${method}'`);
  const target = String(v.target);
  if (target !== 'cpu' && target !== 'tensorrt')
    throw new UsageError(`patchline model quantize: --target must be cpu or tensorrt, got '${target}'`);
  const rr = String(v['reduce-range']);
  if (!['auto', 'yes', 'no'].includes(rr))
    throw new UsageError(`patchline model quantize: --reduce-range must be auto, yes or no, got '${rr}'`);
  const maxError = numberOption(cmd, v, 'max-error', { min: 0 });
  const percentile = numberOption(cmd, v, 'percentile', { min: 50, max: 100 });
  const count = intOption(cmd, v, 'images');
  const batchSize = intOption(cmd, v, 'batch');
  const policy = resizePolicy(cmd, v);
  const backbone = backboneArg(cmd, v, model);
  const layers = listOption(v, 'layers') ?? backbone.spec.defaultLayers;
  if (layers.length === 0)
    throw new UsageError('patchline model quantize: --layers is required for a bare .onnx backbone (graph tensor names)');
  let files: string[];
  try {
    files = spread(expandImageArgs([requireString(cmd, v, 'calibration')]), count);
  } catch (e) {
    throw new UsageError(`patchline model quantize: --calibration: ${(e as Error).message}`);
  }
  if (files.length === 0) throw new UsageError(`patchline model quantize: --calibration ${String(v.calibration)} holds no images`);

  const runtime = new InferenceRuntime();
  try {
    const bars = {
      calibrate: progress('calibrate', files.length, 'images'),
      measure: undefined as ReturnType<typeof progress> | undefined,
    };
    const q = await quantizeBackbone(runtime, {
      backbone,
      layers,
      images: files,
      policy,
      method,
      percentile,
      target,
      reduceRange: rr === 'auto' ? 'auto' : rr === 'yes',
      batchSize,
      onProgress: (stage, n) => {
        if (stage === 'measure' && !bars.measure) {
          bars.calibrate.stop();
          bars.measure = progress('measure', files.length, 'images');
        }
        (stage === 'calibrate' ? bars.calibrate : bars.measure!).tick(n);
      },
    }).catch((e: unknown) => {
      if (e instanceof QuantizationError) throw new UsageError(`patchline model quantize: ${backbone.onnxPath}: ${e.message}`);
      throw e;
    });
    bars.measure?.stop();
    process.stdout.write(
      `${backbone.spec.name}: ${q.convolutions} convolutions, ${q.activations} activation tensors quantized for ${target}; ${q.rangeReason}\n` +
        `calibration: ${files.length} images, ${method}${method === 'percentile' ? ` ${percentile} %` : ''}\n` +
        'relative feature error ||int8 - fp32|| / ||fp32|| on the calibration images:\n',
    );
    for (const e of q.errors)
      process.stdout.write(`  ${e.layer}: ${e.relative.toFixed(4)}${e.relative > maxError ? `  above --max-error ${maxError}` : ''}\n`);
    const worst = q.errors.filter((e) => e.relative > maxError);
    if (worst.length > 0)
      throw new UsageError(
        `patchline model quantize: refused, nothing written: feature error above --max-error ${maxError} in ${worst.map((e) => `${e.layer} (${e.relative.toFixed(4)})`).join(', ')}; try --method percentile, more --images, or keep the float backbone`,
      );
    const specPath = join(dirname(out), `${basename(out, '.onnx')}.json`);
    writeFileAtomic(out, [q.bytes]);
    const about = {
      quantization: 'patchline model quantize',
      target,
      weights: q.options.reduceRange ? 'int8 per channel, 7-bit (reduced range)' : 'int8 per channel',
      activations: target === 'tensorrt' ? 'int8 per tensor, symmetric' : 'uint8 per tensor, asymmetric',
      calibration: { images: files.length, method, ...(method === 'percentile' ? { percentile } : {}), policy },
      featureError: Object.fromEntries(q.errors.map((e) => [e.layer, Number(e.relative.toFixed(5))])),
    };
    const spec = derivedSpec(backbone, layers, { suffix: 'int8', onnxFile: basename(out), sha256: sha256(q.bytes), about });
    writeFileAtomic(specPath, `${JSON.stringify(spec, null, 2)}\n`);
    process.stdout.write(
      `wrote ${out} (${(q.bytes.length / 2 ** 20).toFixed(1)} MB) and ${specPath}: use --backbone ${specPath} with fit, eval and model fuse\n`,
    );
  } finally {
    await runtime.close();
  }
}
