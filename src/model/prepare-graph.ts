// Backbone graph surgery, the ONNX counterpart of the reference's forward hooks plus its
// LastLayerToExtractReachedException: expose chosen intermediate tensors as outputs (float32,
// dequantized when the graph carries them quantized) and drop every node they do not need
// (the classifier and any later stages).
import { DataType, decodeModel, encodeModel, makeNode, onnx, valueInfo, type ModelProto, type NodeProto } from './onnx-graph.js';

/** For quantized producers: input positions of the output's scale and zero point. */
const QUANT_OUTPUT_PARAMS: Record<string, [number, number]> = {
  QuantizeLinear: [1, 2],
  QLinearConv: [6, 7],
  QLinearMatMul: [6, 7],
  QLinearAdd: [6, 7],
  QLinearMul: [6, 7],
  QLinearGlobalAveragePool: [3, 4],
  QLinearAveragePool: [3, 4],
  QLinearLeakyRelu: [3, 4],
  QLinearSigmoid: [3, 4],
  QLinearConcat: [0, 1],
};

/** Ops that pass quantized values through unchanged (same scale and zero point). */
const QUANT_PASSTHROUGH = new Set(['MaxPool', 'Reshape', 'Flatten', 'Transpose', 'Identity', 'Squeeze', 'Unsqueeze', 'Slice', 'Pad']);

export class GraphPreparationError extends Error {}

function producers(model: ModelProto): Map<string, NodeProto> {
  const map = new Map<string, NodeProto>();
  for (const node of model.graph!.node!) for (const out of node.output ?? []) map.set(out, node as NodeProto);
  return map;
}

/** Scale and zero-point tensor names when `tensor` is quantized, else undefined (float). */
export function quantizationOf(tensor: string, byOutput: Map<string, NodeProto>): [string, string] | undefined {
  let name = tensor;
  for (let hops = 0; hops < 64; hops++) {
    const node = byOutput.get(name);
    if (!node) return undefined;
    const params = QUANT_OUTPUT_PARAMS[node.opType ?? ''];
    if (params) {
      const scale = node.input?.[params[0]];
      const zero = node.input?.[params[1]];
      if (!scale) throw new GraphPreparationError(`node '${node.name}' (${node.opType}) has no output scale input`);
      return [scale, zero ?? ''];
    }
    if (!QUANT_PASSTHROUGH.has(node.opType ?? '')) return undefined;
    name = node.input?.[0] ?? '';
  }
  return undefined;
}

export interface ExposedLayer {
  /** Name of the new graph output. */
  name: string;
  /** Tensor inside the graph. */
  tensor: string;
}

/**
 * Returns a new model whose outputs are exactly `layers` (float32), with every node and
 * initializer they do not depend on removed, stale value_info dropped, and the input's batch,
 * height and width made symbolic so any batch size and input resolution can run; and the name
 * of its image input.
 */
export function prepareBackboneGraph(
  modelBytes: Uint8Array,
  layers: ExposedLayer[],
): { bytes: Uint8Array; inputName: string; explicitInt8: boolean } {
  const model = decodeModel(modelBytes);
  const graph = model.graph;
  if (!graph) throw new GraphPreparationError('model has no graph');
  const byOutput = producers(model);
  const initNames = new Set((graph.initializer ?? []).map((t) => t.name));
  const graphInputs = new Set((graph.input ?? []).map((i) => i.name));
  const added: NodeProto[] = [];
  for (const layer of layers) {
    if (!byOutput.has(layer.tensor) && !graphInputs.has(layer.tensor)) {
      const known = [...byOutput.keys()].slice(0, 12).join(', ');
      throw new GraphPreparationError(
        `tensor '${layer.tensor}' (layer '${layer.name}') is not produced by any node of the graph; run 'patchline model inspect' to list candidates (first tensors: ${known}, ...)`,
      );
    }
    const q = quantizationOf(layer.tensor, byOutput);
    if (q) {
      added.push(
        makeNode(
          'DequantizeLinear',
          [layer.tensor, q[0], q[1]].filter((s) => s !== ''),
          [layer.name],
          {},
          `patchline_dequantize_${layer.name}`,
        ),
      );
    } else if (layer.tensor !== layer.name) {
      added.push(makeNode('Identity', [layer.tensor], [layer.name], {}, `patchline_expose_${layer.name}`));
    }
  }
  const allNodes = [...(graph.node as NodeProto[]), ...added];
  const nodeOf = new Map<string, NodeProto>();
  for (const n of allNodes) for (const o of n.output ?? []) nodeOf.set(o, n);

  // Backward slice from the requested outputs.
  const needed = new Set<string>();
  const keep = new Set<NodeProto>();
  const stack = layers.map((l) => l.name);
  while (stack.length > 0) {
    const t = stack.pop()!;
    if (needed.has(t)) continue;
    needed.add(t);
    const n = nodeOf.get(t);
    if (n && !keep.has(n)) {
      keep.add(n);
      for (const i of n.input ?? []) if (i) stack.push(i);
    }
  }
  graph.node = allNodes.filter((n) => keep.has(n));
  graph.initializer = (graph.initializer ?? []).filter((t) => needed.has(t.name ?? ''));
  graph.input = (graph.input ?? []).filter((i) => needed.has(i.name ?? '') && !initNames.has(i.name ?? ''));
  graph.valueInfo = [];
  graph.output = layers.map((l) => valueInfo(l.name, DataType.FLOAT));
  relaxInputDims(graph.input);
  const inputName = graph.input[0]?.name;
  if (!inputName) throw new GraphPreparationError('the prepared graph has no input');
  const explicitInt8 = graph.node.some((n) => n.opType === 'QuantizeLinear') && !graph.node.some((n) => /^QLinear/.test(n.opType ?? ''));
  return { bytes: encodeModel(model), inputName, explicitInt8 };
}

type ValueInfo = NonNullable<NonNullable<ModelProto['graph']>['input']>[number];

/** Batch, height and width of 4-D inputs become symbolic. */
function relaxInputDims(inputs: ValueInfo[]): void {
  for (const input of inputs) {
    const dims = input.type?.tensorType?.shape?.dim;
    if (dims && dims.length === 4) {
      dims[0] = onnx.TensorShapeProto.Dimension.create({ dimParam: 'batch' });
      dims[2] = onnx.TensorShapeProto.Dimension.create({ dimParam: 'height' });
      dims[3] = onnx.TensorShapeProto.Dimension.create({ dimParam: 'width' });
    }
  }
}

/**
 * Every node output becomes a graph output (types left for onnxruntime to infer) and the input
 * dims become symbolic, so one run at any size reports every intermediate tensor's shape.
 */
export function exposeAllTensors(modelBytes: Uint8Array): Uint8Array {
  const model = decodeModel(modelBytes);
  const graph = model.graph;
  if (!graph) throw new GraphPreparationError('model has no graph');
  const outputs = (graph.node ?? []).flatMap((n) => n.output ?? []).filter((o) => o);
  graph.output = outputs.map((name) => onnx.ValueInfoProto.create({ name }));
  graph.valueInfo = [];
  relaxInputDims(graph.input ?? []);
  return encodeModel(model);
}
