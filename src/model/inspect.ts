// `patchline model inspect`: which intermediate tensors of a backbone can serve as PatchCore
// layers, with their shapes and strides at a given input size.
import { readFileSync } from 'node:fs';
import type { InferenceRuntime } from './inference-runtime.js';
import { decodeModel } from './onnx-graph.js';
import { exposeAllTensors } from './prepare-graph.js';
import { floatTensor } from './tensor.js';

export interface FeatureCandidate {
  tensor: string;
  opType: string;
  /** [N, C, H, W] at the probed input size. */
  dims: number[];
  /** Input pixels per feature cell (height axis); fractional strides are rounded. */
  stride: number;
  /** Element type as stored; int8/uint8 tensors are dequantized when chosen as layers. */
  type: string;
}

export async function inspectModel(
  runtime: InferenceRuntime,
  onnxPath: string,
  input: { width: number; height: number },
): Promise<FeatureCandidate[]> {
  const bytes = readFileSync(onnxPath);
  const model = decodeModel(bytes);
  const producer = new Map<string, string>();
  for (const n of model.graph?.node ?? []) for (const o of n.output ?? []) producer.set(o, n.opType ?? '');
  const session = 'inspect';
  const loaded = await runtime.load(session, exposeAllTensors(bytes));
  const inputName = loaded.inputNames[0]!;
  const out = await runtime.run(session, {
    [inputName]: floatTensor(new Float32Array(3 * input.width * input.height), [1, 3, input.height, input.width]),
  });
  await runtime.release(session);
  const candidates: FeatureCandidate[] = [];
  for (const name of loaded.outputNames) {
    const t = out[name];
    if (!t || t.dims.length !== 4 || t.dims[2]! < 1) continue;
    candidates.push({
      tensor: name,
      opType: producer.get(name) ?? '?',
      dims: t.dims,
      stride: Math.round(input.height / t.dims[2]!),
      type: t.type,
    });
  }
  return candidates;
}
