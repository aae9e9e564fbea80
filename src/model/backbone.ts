// Backbones: an ONNX file plus a small spec (input, normalisation, logical layer -> graph
// tensor). Resolves a spec from a catalogue name, a spec JSON file or a bare .onnx path, and
// prepares (exposes layers, prunes, caches) the graph the runtime loads.
import { createHash } from 'node:crypto';
import { closeSync, existsSync, mkdirSync, openSync, readFileSync, readSync, renameSync, writeFileSync } from 'node:fs';
import { homedir } from 'node:os';
import { basename, dirname, isAbsolute, join, resolve } from 'node:path';
import { IMAGENET_NORMALIZATION, type Normalization } from '../preprocess/transform.js';
import { prepareBackboneGraph } from './prepare-graph.js';

export interface LayerSpec {
  /** Tensor name inside the ONNX graph. */
  tensor: string;
  /** Pixels per feature cell, for documentation and checks. */
  stride?: number;
  description?: string;
}

export interface BackboneSpec {
  name: string;
  /** ONNX file: absolute, or relative to the spec file (or the models directory for the catalogue). */
  onnx: string;
  /** Expected sha256 of the ONNX file; checked when present. */
  sha256?: string;
  /** Where a missing file can be downloaded (catalogue entries only). */
  url?: string;
  normalization: Normalization;
  layers: Record<string, LayerSpec>;
  defaultLayers: string[];
  /** Layer sets `patchline tune` tries first (default: defaultLayers and neighbouring pairs). */
  tuneLayerSets?: string[][];
}

export interface ResolvedBackbone {
  spec: BackboneSpec;
  /** Absolute path of the ONNX file. */
  onnxPath: string;
}

export class BackboneError extends Error {}

export const MOBILENETV2_SHA256 = 'cc028fe6cae7bc11a4ff53cfc9b79c920e8be65ce33a904ec3e2a8f66d77f95f';

/** Built-in backbones. Tensor names were read off the zoo graph with `patchline model inspect`. */
export const CATALOGUE: Record<string, BackboneSpec> = {
  mobilenetv2: {
    name: 'mobilenetv2',
    onnx: 'mobilenetv2-12-int8.onnx',
    sha256: MOBILENETV2_SHA256,
    url: 'https://github.com/onnx/models/raw/main/validated/vision/classification/mobilenet/model/mobilenetv2-12-int8.onnx',
    normalization: IMAGENET_NORMALIZATION,
    layers: {
      'features.3': { tensor: '339_quantized', stride: 4, description: 'block 3 output, 24 channels' },
      'features.6': { tensor: '365_quantized', stride: 8, description: 'block 6 output, 32 channels' },
      'features.7.expand': { tensor: '528_quantized', stride: 8, description: 'block 7 expansion, 192 channels' },
      'features.10': { tensor: '400_quantized', stride: 16, description: 'block 10 output, 64 channels' },
      'features.13': { tensor: '426_quantized', stride: 16, description: 'block 13 output, 96 channels' },
      'features.14.expand': { tensor: '591_quantized', stride: 16, description: 'block 14 expansion, 576 channels' },
      'features.16': { tensor: '452_quantized', stride: 32, description: 'block 16 output, 160 channels' },
      'features.17': { tensor: '624_quantized', stride: 32, description: 'block 17 output, 320 channels' },
      'features.18': { tensor: '627_quantized', stride: 32, description: 'last 1x1 convolution, 1280 channels' },
    },
    defaultLayers: ['features.6', 'features.13'],
    // The Magnetic Tile sweep's contenders (docs/ACCURACY.md).
    tuneLayerSets: [
      ['features.6', 'features.13'],
      ['features.13', 'features.16'],
      ['features.10', 'features.16'],
      ['features.6', 'features.13', 'features.16'],
    ],
  },
};

export const DEFAULT_BACKBONE = 'mobilenetv2';

/** Models directory: explicit value, else $PATCHLINE_MODEL_DIR, else ./models. */
export function modelDir(explicit?: string): string {
  return resolve(explicit ?? process.env.PATCHLINE_MODEL_DIR ?? 'models');
}

export function cacheDir(): string {
  return resolve(process.env.PATCHLINE_CACHE_DIR ?? join(process.env.XDG_CACHE_HOME ?? join(homedir(), '.cache'), 'patchline'));
}

export function sha256(bytes: Uint8Array): string {
  return createHash('sha256').update(bytes).digest('hex');
}

/** Resolves a catalogue name, a backbone spec JSON, or a bare ONNX path. */
export function resolveBackbone(specOrOnnx: string, models = modelDir()): ResolvedBackbone {
  const builtin = CATALOGUE[specOrOnnx];
  if (builtin) return { spec: builtin, onnxPath: resolve(models, builtin.onnx) };
  if (specOrOnnx.endsWith('.json')) {
    if (!existsSync(specOrOnnx)) throw new BackboneError(`${specOrOnnx}: backbone spec not found`);
    let raw: unknown;
    try {
      raw = JSON.parse(readFileSync(specOrOnnx, 'utf8'));
    } catch (e) {
      throw new BackboneError(`${specOrOnnx}: not valid JSON: ${(e as Error).message}`);
    }
    const spec = validateSpec(raw, specOrOnnx);
    const onnxPath = isAbsolute(spec.onnx) ? spec.onnx : resolve(dirname(specOrOnnx), spec.onnx);
    return { spec, onnxPath };
  }
  if (specOrOnnx.endsWith('.onnx')) {
    // A bare graph: layers are graph tensor names, normalisation is ImageNet's.
    return {
      spec: { name: basename(specOrOnnx, '.onnx'), onnx: specOrOnnx, normalization: IMAGENET_NORMALIZATION, layers: {}, defaultLayers: [] },
      onnxPath: resolve(specOrOnnx),
    };
  }
  throw new BackboneError(
    `unknown backbone '${specOrOnnx}': give a catalogue name (${Object.keys(CATALOGUE).join(', ')}), a spec .json or an .onnx file`,
  );
}

function validateSpec(raw: unknown, file: string): BackboneSpec {
  const fail = (field: string, want: string): never => {
    throw new BackboneError(`${file}: field '${field}' ${want}`);
  };
  if (typeof raw !== 'object' || raw === null) return fail('(root)', 'must be an object');
  const r = raw as Record<string, unknown>;
  if (typeof r.name !== 'string') fail('name', 'must be a string');
  if (typeof r.onnx !== 'string') fail('onnx', 'must be a string path');
  if (r.sha256 !== undefined && (typeof r.sha256 !== 'string' || !/^[0-9a-f]{64}$/.test(r.sha256)))
    fail('sha256', 'must be 64 lowercase hex digits');
  const layers = r.layers;
  if (typeof layers !== 'object' || layers === null) return fail('layers', 'must map layer names to {"tensor": ...}');
  for (const [k, v] of Object.entries(layers)) {
    if (typeof v !== 'object' || v === null || typeof (v as LayerSpec).tensor !== 'string') fail(`layers.${k}.tensor`, 'must be a string');
  }
  const norm = (r.normalization ?? IMAGENET_NORMALIZATION) as Normalization;
  for (const key of ['mean', 'std'] as const) {
    const v = norm[key];
    if (!Array.isArray(v) || v.length !== 3 || !v.every((x) => typeof x === 'number')) fail(`normalization.${key}`, 'must be 3 numbers');
  }
  const defaults = r.defaultLayers ?? Object.keys(layers);
  if (!Array.isArray(defaults) || !defaults.every((d) => typeof d === 'string' && d in layers))
    fail('defaultLayers', 'must list names defined in layers');
  return {
    name: r.name as string,
    onnx: r.onnx as string,
    sha256: r.sha256 as string | undefined,
    normalization: norm,
    layers: layers as Record<string, LayerSpec>,
    defaultLayers: defaults as string[],
  };
}

/**
 * Checks the ONNX file against the spec's sha256, with a message that says what to do, and
 * returns its sha256. Hashed in chunks: a backbone can be hundreds of MB, and the service only
 * needs its hash (onnxruntime reads the file itself).
 */
export function backboneSha256(b: ResolvedBackbone): string {
  if (!existsSync(b.onnxPath)) {
    const how = b.spec.url
      ? `run 'patchline model fetch ${b.spec.name}' or place the file there by hand (source: ${b.spec.url})`
      : 'check the path';
    throw new BackboneError(
      `backbone '${b.spec.name}': ONNX file ${b.onnxPath} not found; ${how}. The models directory is set by --model-dir or PATCHLINE_MODEL_DIR.`,
    );
  }
  const hash = createHash('sha256');
  const fd = openSync(b.onnxPath, 'r');
  try {
    const chunk = Buffer.allocUnsafe(1 << 20);
    for (let n; (n = readSync(fd, chunk, 0, chunk.length, null)) > 0;) hash.update(chunk.subarray(0, n));
  } finally {
    closeSync(fd);
  }
  const hex = hash.digest('hex');
  if (b.spec.sha256 && hex !== b.spec.sha256) {
    throw new BackboneError(
      `${b.onnxPath}: sha256 ${hex} does not match the expected ${b.spec.sha256} for backbone '${b.spec.name}'; the file is corrupt or a different model: replace it`,
    );
  }
  return hex;
}

/** Maps logical layer names to graph tensors; bare ONNX backbones use tensor names directly. */
export function layerTensors(b: ResolvedBackbone, layers: string[]): { name: string; tensor: string }[] {
  if (layers.length === 0) throw new BackboneError(`no layers chosen for backbone '${b.spec.name}'`);
  return layers.map((name) => {
    if (Object.keys(b.spec.layers).length === 0) return { name, tensor: name };
    const l = b.spec.layers[name];
    if (!l) throw new BackboneError(`backbone '${b.spec.name}' has no layer '${name}' (known: ${Object.keys(b.spec.layers).join(', ')})`);
    return { name, tensor: l.tensor };
  });
}

const PREPARATION_VERSION = 3;

export interface PreparedBackbone {
  path: string;
  sourceSha256: string;
  /** The graph's image input (named in TensorRT optimisation profiles). */
  inputName: string;
  /** Quantized as QuantizeLinear/DequantizeLinear pairs (`patchline model quantize`): TensorRT builds it in int8. */
  explicitInt8: boolean;
}

/**
 * Returns the path of the prepared graph (layers exposed, rest pruned), built once and cached
 * by the content hash of the source model and the layer mapping, with its input name beside it.
 */
export function preparedBackbonePath(b: ResolvedBackbone, layers: string[]): PreparedBackbone {
  const sourceSha256 = backboneSha256(b);
  const mapping = layerTensors(b, layers);
  const key = sha256(Buffer.from(JSON.stringify({ v: PREPARATION_VERSION, model: sourceSha256, mapping })));
  const dir = join(cacheDir(), 'prepared');
  const path = join(dir, `${b.spec.name.replace(/[^A-Za-z0-9_.-]/g, '_')}-${key.slice(0, 16)}.onnx`);
  const about = `${path}.json`;
  if (!existsSync(path) || !existsSync(about)) {
    const prepared = prepareBackboneGraph(readFileSync(b.onnxPath), mapping);
    mkdirSync(dir, { recursive: true });
    const write = (file: string, data: Uint8Array | string) => {
      const tmp = `${file}.${process.pid}.tmp`;
      writeFileSync(tmp, data);
      renameSync(tmp, file);
    };
    write(path, prepared.bytes);
    write(about, JSON.stringify({ inputName: prepared.inputName, explicitInt8: prepared.explicitInt8 }));
  }
  const info = JSON.parse(readFileSync(about, 'utf8')) as { inputName?: unknown; explicitInt8?: unknown };
  return { path, sourceSha256, inputName: String(info.inputName), explicitInt8: info.explicitInt8 === true };
}

/**
 * The spec of a graph derived from a prepared backbone (quantized, or rebuilt in float): its
 * outputs carry the layer names, normalisation and strides are the source's.
 */
export function derivedSpec(
  source: ResolvedBackbone,
  layers: string[],
  derived: { suffix: string; onnxFile: string; sha256: string; about: Record<string, unknown> },
): BackboneSpec & { derivedFrom: Record<string, unknown> } {
  return {
    name: `${source.spec.name}-${derived.suffix}`,
    onnx: derived.onnxFile,
    sha256: derived.sha256,
    normalization: source.spec.normalization,
    layers: Object.fromEntries(
      layers.map((l) => {
        const from = source.spec.layers[l];
        return [
          l,
          { tensor: l, ...(from?.stride ? { stride: from.stride } : {}), description: `${from?.description ?? l}, ${derived.suffix}` },
        ];
      }),
    ),
    defaultLayers: layers,
    derivedFrom: { source: basename(source.onnxPath), sourceSha256: source.spec.sha256, ...derived.about },
  };
}
