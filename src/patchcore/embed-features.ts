// Runs the embedding head alone on feature maps that are already computed (saved from another
// framework, or fixtures): the `patchline embed --features` path.
import type { InferenceRuntime } from '../model/inference-runtime.js';
import { encodeModel } from '../model/onnx-graph.js';
import { asFloat, floatTensor, type FloatTensor } from '../model/tensor.js';
import { buildEmbeddingHead, EMBEDDING_OUTPUT, type HeadSpec } from './embedding-head.js';
import type { HeadParams } from './embedder.js';

export interface NamedFeatureMap {
  name: string;
  /** [B, C, H, W] */
  tensor: FloatTensor;
}

export async function embedFeatureMaps(
  runtime: InferenceRuntime,
  maps: NamedFeatureMap[],
  params: HeadParams,
  session = 'head/features',
): Promise<FloatTensor> {
  const batch = maps[0]?.tensor.dims[0];
  for (const m of maps) {
    if (m.tensor.dims.length !== 4) throw new RangeError(`feature map '${m.name}' must be [B,C,H,W], got [${m.tensor.dims.join(',')}]`);
    if (m.tensor.dims[0] !== batch) throw new RangeError(`feature map '${m.name}' has batch ${m.tensor.dims[0]}, the first has ${batch}`);
  }
  const spec: HeadSpec = {
    layers: maps.map((m) => ({ name: m.name, channels: m.tensor.dims[1]!, height: m.tensor.dims[2]!, width: m.tensor.dims[3]! })),
    ...params,
  };
  await runtime.load(session, encodeModel(buildEmbeddingHead(spec)));
  const feeds = Object.fromEntries(maps.map((m) => [m.name, floatTensor(Float32Array.from(m.tensor.data), m.tensor.dims)]));
  const out = await runtime.run(session, feeds);
  await runtime.release(session);
  return asFloat(out[EMBEDDING_OUTPUT], EMBEDDING_OUTPUT);
}
