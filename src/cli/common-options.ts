// Option groups shared by the commands that embed images (embed, fit, demo) and write models
// (model quantize, dequantize): one definition, one set of defaults, one validation.
import { modelDir, resolveBackbone, type ResolvedBackbone } from '../model/backbone.js';
import type { HeadParams } from '../patchcore/embedder.js';
import { FIT_DEFAULTS } from '../patchcore/fit.js';
import type { ResizePolicy } from '../preprocess/transform.js';
import { existsSync } from 'node:fs';
import { dirname } from 'node:path';
import {
  intOption,
  optionalString,
  requireString,
  sizeOption,
  UsageError,
  type CommandSpec,
  type OptionDoc,
  type ParsedOptions,
} from './args.js';

export const MODEL_DIR_OPTION: OptionDoc = {
  type: 'string',
  value: 'DIR',
  help: 'models directory (default: $PATCHLINE_MODEL_DIR or ./models)',
};

export const BACKBONE_OPTIONS: Record<string, OptionDoc> = {
  backbone: { type: 'string', value: 'SPEC_OR_ONNX', default: 'mobilenetv2', help: 'catalogue name, backbone spec .json, or .onnx file' },
  layers: {
    type: 'string',
    value: 'a,b',
    help: "feature layers, comma-separated (default: the backbone's defaultLayers; for a bare .onnx: graph tensor names)",
  },
  'model-dir': MODEL_DIR_OPTION,
  threads: { type: 'string', value: 'N', help: 'onnxruntime threads per operator (default: all cores)' },
};

export const HEAD_OPTIONS: Record<string, OptionDoc> = {
  patchsize: {
    type: 'string',
    value: 'P',
    default: String(FIT_DEFAULTS.head.patchsize),
    help: 'neighbourhood pooled into each patch feature',
  },
  'pretrain-dim': {
    type: 'string',
    value: 'D1',
    default: String(FIT_DEFAULTS.head.pretrainDim),
    help: 'per-layer feature length after adaptive pooling',
  },
  'target-dim': {
    type: 'string',
    value: 'D2',
    default: String(FIT_DEFAULTS.head.targetDim),
    help: 'embedding length after aggregating layers',
  },
};

export const RESIZE_OPTIONS: Record<string, OptionDoc> = {
  resize: { type: 'string', value: 'R', default: String(FIT_DEFAULTS.resize.resize), help: 'shorter image side before the centre crop' },
  crop: { type: 'string', value: 'C', default: String(FIT_DEFAULTS.resize.crop), help: 'centre crop size (model input)' },
  size: { type: 'string', value: 'WxH', help: 'instead of resize+crop: resize the whole image to exactly WxH' },
};

export function headParams(cmd: CommandSpec, v: ParsedOptions): HeadParams {
  return {
    patchsize: intOption(cmd, v, 'patchsize'),
    pretrainDim: intOption(cmd, v, 'pretrain-dim'),
    targetDim: intOption(cmd, v, 'target-dim'),
  };
}

export function resizePolicy(cmd: CommandSpec, v: ParsedOptions): ResizePolicy {
  if (v.size !== undefined) return { mode: 'exact', ...sizeOption(cmd, v, 'size') };
  const resize = intOption(cmd, v, 'resize');
  const crop = intOption(cmd, v, 'crop');
  if (crop > resize) throw new UsageError(`patchline ${cmd.name}: --crop ${crop} is larger than --resize ${resize}`);
  return { mode: 'shorter-side', resize, crop };
}

/** A comma-separated option as trimmed, non-empty names; undefined when not given. */
export function listOption(v: ParsedOptions, key: string): string[] | undefined {
  const raw = optionalString(v, key);
  return raw
    ?.split(',')
    .map((s) => s.trim())
    .filter(Boolean);
}

/** A catalogue name, spec or .onnx resolved against --model-dir; `what` prefixes the error. */
export function backboneArg(cmd: CommandSpec, v: ParsedOptions, ref: string, what = ''): ResolvedBackbone {
  try {
    return resolveBackbone(ref, modelDir(optionalString(v, 'model-dir')));
  } catch (e) {
    throw new UsageError(`patchline ${cmd.name}: ${what}${(e as Error).message}`);
  }
}

/** --out of the commands that write a model: an .onnx path in a folder that exists. */
export function onnxOutOption(cmd: CommandSpec, v: ParsedOptions): string {
  const out = requireString(cmd, v, 'out');
  if (!out.endsWith('.onnx')) throw new UsageError(`patchline ${cmd.name}: --out must end in .onnx, got '${out}'`);
  if (!existsSync(dirname(out) || '.')) throw new UsageError(`patchline ${cmd.name}: --out: folder ${dirname(out)} does not exist`);
  return out;
}

export function backboneChoice(
  cmd: CommandSpec,
  v: ParsedOptions,
): { backbone: ResolvedBackbone; layers: string[]; threads: number | undefined } {
  const backbone = backboneArg(cmd, v, optionalString(v, 'backbone') ?? 'mobilenetv2', '--backbone: ');
  const layers = listOption(v, 'layers') ?? backbone.spec.defaultLayers;
  if (layers.length === 0)
    throw new UsageError(
      `patchline ${cmd.name}: --layers is required for a bare .onnx backbone (graph tensor names; list them with 'patchline model inspect')`,
    );
  const unknown = Object.keys(backbone.spec.layers).length > 0 ? layers.filter((l) => !(l in backbone.spec.layers)) : [];
  if (unknown.length > 0)
    throw new UsageError(
      `patchline ${cmd.name}: --layers: backbone '${backbone.spec.name}' has no layer ${unknown.map((u) => `'${u}'`).join(', ')} (known: ${Object.keys(backbone.spec.layers).join(', ')})`,
    );
  const threads = v.threads !== undefined ? intOption(cmd, v, 'threads') : undefined;
  return { backbone, layers, threads };
}
