// A float backbone -> an int8 QDQ backbone with its spec: calibrate on good images of the
// product, rewrite the graph, then measure each feature layer against the float graph on the
// same images (the accuracy guard the CLI enforces).
import { readFileSync } from 'node:fs';
import { arch } from 'node:os';
import { loadBatch } from '../preprocess/batch.js';
import type { ResizePolicy } from '../preprocess/transform.js';
import { preparedBackbonePath, type ResolvedBackbone } from './backbone.js';
import { calibrateActivations, exposeTensors, FeatureError, type CalibrationMethod } from './calibrate-activations.js';
import type { InferenceRuntime } from './inference-runtime.js';
import { planQuantization, quantizeGraph, type QuantizeOptions } from './quantize-graph.js';
import { asFloat, floatTensor, type FloatTensor } from './tensor.js';

export interface QuantizeBackboneRequest {
  backbone: ResolvedBackbone;
  layers: string[];
  /** Good images of the product. */
  images: string[];
  policy: ResizePolicy;
  method: CalibrationMethod;
  percentile: number;
  target: QuantizeOptions['target'];
  reduceRange: 'auto' | boolean;
  batchSize: number;
  onProgress?: (stage: 'calibrate' | 'measure', images: number) => void;
}

export interface QuantizedBackbone {
  bytes: Uint8Array;
  options: QuantizeOptions;
  /** Why the weight range was chosen, in words. */
  rangeReason: string;
  /** Relative feature error per layer against the float graph on the calibration images. */
  errors: { layer: string; relative: number }[];
  activations: number;
  convolutions: number;
}

/**
 * x86's u8s8 integer kernels without VNNI (AVX2 vpmaddubsw) add pairs of uint8 x int8 products
 * in int16 and saturate; 7-bit weights keep those sums in range. VNNI, ARM and TensorRT
 * accumulate in int32.
 */
export function chooseReduceRange(
  target: QuantizeOptions['target'],
  cpuFlags: string | undefined = readCpuFlags(),
): { reduceRange: boolean; why: string } {
  if (target === 'tensorrt') return { reduceRange: false, why: '8-bit weights: TensorRT accumulates int8 products in int32' };
  if (arch() !== 'x64') return { reduceRange: false, why: `8-bit weights: ${arch()} integer kernels accumulate in int32` };
  const vnni = cpuFlags ? /\b(avx512_vnni|avx_vnni|amx_int8)\b/.exec(cpuFlags) : null;
  if (vnni) return { reduceRange: false, why: `8-bit weights: this CPU has ${vnni[1]} (int32 accumulation, no u8s8 saturation)` };
  return {
    reduceRange: true,
    why: '7-bit weights (reduced range): this CPU has no VNNI, and AVX2 u8s8 kernels saturate pairs of 8-bit products in int16',
  };
}

function readCpuFlags(): string | undefined {
  try {
    return /^flags\s*:(.*)$/m.exec(readFileSync('/proc/cpuinfo', 'utf8'))?.[1];
  } catch {
    return undefined;
  }
}

/** The calibration images decoded once: calibration and the error measurement both read them. */
async function loadBatches(req: QuantizeBackboneRequest): Promise<FloatTensor[]> {
  const batches: FloatTensor[] = [];
  for (let i = 0; i < req.images.length; i += req.batchSize) {
    const b = await loadBatch(req.images.slice(i, i + req.batchSize), req.policy, req.backbone.spec.normalization);
    batches.push(floatTensor(b.data, b.dims));
  }
  return batches;
}

/** Copies: a run moves its input buffers to the worker. */
async function* copiesOf(batches: FloatTensor[]): AsyncGenerator<FloatTensor> {
  for (const b of batches) yield floatTensor(b.data.slice(), b.dims);
}

export async function quantizeBackbone(runtime: InferenceRuntime, req: QuantizeBackboneRequest): Promise<QuantizedBackbone> {
  const prepared = preparedBackbonePath(req.backbone, req.layers);
  const floatBytes = readFileSync(prepared.path);
  const range =
    req.reduceRange === 'auto'
      ? chooseReduceRange(req.target)
      : { reduceRange: req.reduceRange, why: `${req.reduceRange ? '7-bit (reduced range)' : '8-bit'} weights, as asked` };
  const options: QuantizeOptions = { target: req.target, reduceRange: range.reduceRange };
  const plan = planQuantization(floatBytes, options);
  await runtime.load('quantize-calibrate', exposeTensors(floatBytes, plan.tensors));
  const batches = await loadBatches(req);
  const ranges = await calibrateActivations(runtime, 'quantize-calibrate', prepared.inputName, plan.tensors, copiesOf(batches), {
    method: req.method,
    percentile: req.percentile,
    onBatch: (n) => req.onProgress?.('calibrate', n),
  });
  await runtime.release('quantize-calibrate');
  const convolutions = (plan.model.graph?.node ?? []).filter((n) => n.opType === 'Conv').length;
  const bytes = quantizeGraph(plan.model, ranges, options);

  await runtime.load('quantize-float', floatBytes);
  // A copy (new Uint8Array, not Buffer's slice, which is a view): load moves a buffer it owns
  // whole to the worker, and these bytes are the result.
  await runtime.load('quantize-int8', new Uint8Array(bytes));
  const errors = new Map(req.layers.map((l) => [l, new FeatureError()]));
  for (const batch of batches) {
    const f = await runtime.run('quantize-float', { [prepared.inputName]: floatTensor(batch.data.slice(), batch.dims) });
    // The last reader: the batch itself can move to the worker.
    const q = await runtime.run('quantize-int8', { [prepared.inputName]: batch });
    for (const [layer, e] of errors) e.add(asFloat(f[layer], layer).data, asFloat(q[layer], layer).data);
    req.onProgress?.('measure', batch.dims[0]!);
  }
  await runtime.release('quantize-float');
  await runtime.release('quantize-int8');
  return {
    bytes,
    options,
    rangeReason: range.why,
    errors: [...errors].map(([layer, e]) => ({ layer, relative: e.relative })),
    activations: plan.tensors.length,
    convolutions,
  };
}
