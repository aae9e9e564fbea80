// Backbone, head, kNN scorer and map graphs merged into one model (PatchCoreOptions.fused,
// `patchline model fuse`). For TensorRT the graph is shaped for its ONNX parser: the exact kNN
// as the full product (the bounded form's NonZero has data-dependent shapes, which onnxruntime
// keeps off TensorRT and which would change the engine's shapes per frame), optionally a fixed
// batch, and a report of the operators TensorRT's parser does not take.
import { readFileSync } from 'node:fs';
import type { InferenceRuntime } from '../model/inference-runtime.js';
import { mergeModels } from '../model/merge-models.js';
import { encodeModel, onnx, type ModelProto } from '../model/onnx-graph.js';
import type { Bank } from './bank-file.js';
import type { Embedder } from './embedder.js';
import { buildEmbeddingHead } from './embedding-head.js';
import { buildMapGraph, MAP_OUTPUTS } from './map-graph.js';
import { SCORER_OUTPUTS } from './scorer-graph.js';
import { scorerModel } from './scorer.js';

export type FuseTarget = 'cpu' | 'tensorrt';

/**
 * Operators TensorRT's ONNX parser does not take (QOperator int8, integer convolutions), or
 * that onnxruntime's TensorRT provider leaves to other providers (data-dependent shapes).
 */
export const TENSORRT_UNSUPPORTED = new Set([
  'QLinearConv',
  'QLinearMatMul',
  'QLinearAdd',
  'QLinearMul',
  'QLinearGlobalAveragePool',
  'QLinearAveragePool',
  'QLinearConcat',
  'QLinearLeakyRelu',
  'QLinearSigmoid',
  'ConvInteger',
  'MatMulInteger',
  'DynamicQuantizeLinear',
  'NonZero',
]);

export interface FusedModel {
  bytes: Uint8Array;
  /** What was changed for the target. */
  notes: string[];
  /** What will not run as the target expects (and what to do). */
  warnings: string[];
}

export interface FuseOptions {
  target?: FuseTarget;
  /** A fixed batch size for the input (trtexec, engines without profiles); default: dynamic. */
  batch?: number;
}

/** Operator counts of a graph's nodes that the TensorRT parser will not take. */
export function tensorRtUnsupported(model: ModelProto): Map<string, number> {
  const found = new Map<string, number>();
  for (const n of model.graph?.node ?? []) {
    const op = `${n.domain ? `${n.domain}.` : ''}${n.opType ?? ''}`;
    if (TENSORRT_UNSUPPORTED.has(n.opType ?? '') || (n.domain && n.domain !== 'ai.onnx')) found.set(op, (found.get(op) ?? 0) + 1);
  }
  return found;
}

export async function fusedModel(
  runtime: InferenceRuntime,
  bank: Bank,
  embedder: Embedder,
  session: string,
  opts: FuseOptions = {},
): Promise<FusedModel> {
  const target = opts.target ?? 'cpu';
  const m = bank.manifest;
  const notes: string[] = [];
  const warnings: string[] = [];
  const scorer = await scorerModel(
    runtime,
    bank.rows,
    m.head.targetDim,
    m.scorer.k,
    target === 'tensorrt' ? { form: 'full' } : {},
    session,
  );
  if (target === 'tensorrt') notes.push('exact kNN as the full product (no NonZero: fixed shapes per batch size, one engine)');
  const merged = mergeModels(
    [
      { prefix: 'backbone/', model: readFileSync(embedder.backbonePath) },
      { prefix: 'head/', model: buildEmbeddingHead(embedder.headSpec) },
      { prefix: 'knn/', model: scorer },
      { prefix: 'map/', model: buildMapGraph(embedder.grid, m.input, m.scorer.mapSigma) },
    ],
    [SCORER_OUTPUTS.scores, MAP_OUTPUTS.imageScores, MAP_OUTPUTS.maps],
    'patchcore_frame',
  );
  if (opts.batch !== undefined) {
    const dims = merged.graph?.input?.[0]?.type?.tensorType?.shape?.dim;
    if (dims?.[0]) dims[0] = onnx.TensorShapeProto.Dimension.create({ dimValue: opts.batch });
    notes.push(`input batch fixed at ${opts.batch}`);
  }
  if (target === 'tensorrt') {
    const unsupported = tensorRtUnsupported(merged);
    if (unsupported.size > 0) {
      const list = [...unsupported].map(([op, n]) => `${op} x${n}`).join(', ');
      const quantized = [...unsupported.keys()].some((op) => op.startsWith('QLinear') || op.endsWith('Integer'));
      warnings.push(
        `TensorRT's ONNX parser does not take ${list}: onnxruntime runs those nodes on CUDA or the CPU, splitting the frame into several engines with copies between them` +
          (quantized
            ? `. The backbone is QOperator int8 (QLinear* nodes); for TensorRT give it as fp32 or QDQ (QuantizeLinear/DequantizeLinear), e.g. exported with tools/export_backbone.py`
            : ''),
      );
    }
  }
  return { bytes: encodeModel(merged), notes, warnings };
}
