// Activation ranges for post-training quantization: the float graph runs on good images of
// the user's product with the tensors to quantize exposed, and each tensor's range is taken
// as its min/max or as percentiles of a strided sample of its values.
import { DataType, decodeModel, encodeModel, valueInfo } from './onnx-graph.js';
import type { ActivationRanges } from './quantize-graph.js';
import type { InferenceRuntime } from './inference-runtime.js';
import { asFloat, type FloatTensor } from './tensor.js';

export type CalibrationMethod = 'minmax' | 'percentile';

/** Values kept per tensor for percentiles: 13 beyond the 99.99th, ~1 MB a tensor (WRN50 has ~150). */
const SAMPLE_CAP = 1 << 17;

/** Adds `tensors` to the graph's outputs (float32) so one run returns them all. */
export function exposeTensors(modelBytes: Uint8Array, tensors: string[]): Uint8Array {
  const model = decodeModel(modelBytes);
  const graph = model.graph!;
  const have = new Set((graph.output ?? []).map((o) => o.name));
  graph.output = [...(graph.output ?? []), ...tensors.filter((t) => !have.has(t)).map((t) => valueInfo(t, DataType.FLOAT))];
  return encodeModel(model);
}

/** Accumulates one tensor's range over calibration batches. */
export class RangeObserver {
  private min = Infinity;
  private max = -Infinity;
  private readonly sample: number[] = [];
  private seen = 0;

  constructor(
    private readonly method: CalibrationMethod,
    private readonly percentile: number,
  ) {}

  observe(values: Float32Array): void {
    let lo = this.min;
    let hi = this.max;
    for (let i = 0; i < values.length; i++) {
      const v = values[i]!;
      if (v < lo) lo = v;
      if (v > hi) hi = v;
    }
    this.min = lo;
    this.max = hi;
    if (this.method !== 'percentile') return;
    // A fixed stride per batch keeps the sample spread over the whole map, every batch alike.
    const stride = Math.max(1, Math.ceil(values.length / (SAMPLE_CAP / 16)));
    for (let i = (this.seen++ * 7) % stride; i < values.length; i += stride) this.sample.push(values[i]!);
    if (this.sample.length > SAMPLE_CAP) {
      // Halve: keep every other value, so old and new batches stay equally represented.
      let w = 0;
      for (let r = 0; r < this.sample.length; r += 2) this.sample[w++] = this.sample[r]!;
      this.sample.length = w;
    }
  }

  range(): { min: number; max: number } {
    if (!Number.isFinite(this.min) || !Number.isFinite(this.max)) throw new Error('no values observed');
    if (this.method === 'minmax' || this.sample.length === 0) return { min: this.min, max: this.max };
    const sorted = Float64Array.from(this.sample).sort();
    const at = (q: number) => sorted[Math.min(sorted.length - 1, Math.max(0, Math.round(q * (sorted.length - 1))))]!;
    return { min: at(1 - this.percentile / 100), max: at(this.percentile / 100) };
  }
}

/**
 * Runs `batches` through the float graph (already holding the tensors as outputs) and returns
 * each tensor's range. `batches` yields fresh buffers: the runtime takes ownership of each.
 */
export async function calibrateActivations(
  runtime: InferenceRuntime,
  session: string,
  inputName: string,
  tensors: string[],
  batches: AsyncIterable<FloatTensor>,
  opts: { method: CalibrationMethod; percentile: number; onBatch?: (images: number) => void },
): Promise<ActivationRanges> {
  const observers = new Map(tensors.map((t) => [t, new RangeObserver(opts.method, opts.percentile)]));
  for await (const batch of batches) {
    const out = await runtime.run(session, { [inputName]: batch }, { outputs: tensors });
    for (const [t, o] of observers) o.observe(asFloat(out[t], t).data);
    opts.onBatch?.(batch.dims[0]!);
  }
  return new Map([...observers].map(([t, o]) => [t, o.range()]));
}

/** Relative error of quantized features: ||q - f|| / ||f|| over every value. */
export class FeatureError {
  private diff = 0;
  private norm = 0;

  add(reference: Float32Array, quantized: Float32Array): void {
    for (let i = 0; i < reference.length; i++) {
      const d = quantized[i]! - reference[i]!;
      this.diff += d * d;
      this.norm += reference[i]! * reference[i]!;
    }
  }

  get relative(): number {
    return this.norm > 0 ? Math.sqrt(this.diff / this.norm) : 0;
  }
}
