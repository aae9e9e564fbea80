// The float rebuild of an int8 (QOperator) backbone: every QLinearConv/QLinearAdd becomes its
// float op on dequantized weights, followed by a Clip to the range its uint8 output could
// hold (that is where such graphs keep their ReLU6s). The rebuild computes what the int8 graph
// computes without the rounding, so patchline's own quantization can be measured against it.
import { DataType, decodeModel, encodeModel, makeNode, onnx, type ModelProto, type NodeProto, type TensorProto } from './onnx-graph.js';
import { QuantizationError } from './quantize-graph.js';

function numbers(t: TensorProto): number[] {
  const raw = t.rawData && t.rawData.length > 0 ? new Uint8Array(t.rawData) : undefined;
  switch (t.dataType) {
    case DataType.FLOAT:
      return raw ? Array.from(new Float32Array(raw.buffer, 0, raw.byteLength / 4)) : (t.floatData ?? []);
    case DataType.UINT8:
      return raw ? Array.from(raw) : (t.int32Data ?? []);
    case DataType.INT8:
      return raw ? Array.from(new Int8Array(raw.buffer, 0, raw.byteLength)) : (t.int32Data ?? []);
    case DataType.INT32:
      return raw ? Array.from(new Int32Array(raw.buffer, 0, raw.byteLength / 4)) : (t.int32Data ?? []);
    default:
      throw new QuantizationError(`initializer '${t.name}' has data type ${t.dataType}, not a quantization parameter`);
  }
}

const floatInit = (name: string, dims: number[], values: ArrayLike<number>) =>
  onnx.TensorProto.create({ name, dims, dataType: DataType.FLOAT, rawData: new Uint8Array(Float32Array.from(values).buffer) });

/** Rewrites a QOperator graph (as `prepareBackboneGraph` leaves it) into float32 ops. */
export function dequantizeGraph(modelBytes: Uint8Array): Uint8Array {
  const model: ModelProto = decodeModel(modelBytes);
  const graph = model.graph;
  if (!graph) throw new QuantizationError('model has no graph');
  const inits = new Map((graph.initializer ?? []).map((t) => [t.name ?? '', t as TensorProto]));
  const value = (name: string | undefined | null, what: string): number[] => {
    const t = name ? inits.get(name) : undefined;
    if (!t) throw new QuantizationError(`${what} '${name}' is not a constant`);
    return numbers(t);
  };
  const scalar = (name: string | undefined | null, what: string) => value(name, what)[0]!;
  const added: TensorProto[] = [];
  const nodes: NodeProto[] = [];
  /** Float op into a temporary, then Clip to the representable range of the uint8 output. */
  const clipped = (node: NodeProto, op: NodeProto, scaleName: string, zeroName: string) => {
    const s = scalar(scaleName, 'output scale');
    const z = scalar(zeroName, 'output zero point');
    const out = node.output![0]!;
    const [lo, hi] = [(0 - z) * s, (255 - z) * s];
    added.push(floatInit(`${out}_clip_min`, [], [lo]), floatInit(`${out}_clip_max`, [], [hi]));
    nodes.push(op, makeNode('Clip', [op.output![0]!, `${out}_clip_min`, `${out}_clip_max`], [out], {}, `${out}_clip`));
  };
  for (const node of graph.node as NodeProto[]) {
    const i = node.input ?? [];
    switch (node.opType) {
      case 'QuantizeLinear':
      case 'DequantizeLinear':
        nodes.push(makeNode('Identity', [i[0]!], [node.output![0]!], {}, node.name ?? undefined));
        break;
      case 'QLinearConv': {
        const xScale = scalar(i[1], 'input scale');
        const w = inits.get(i[3]!);
        if (!w) throw new QuantizationError(`QLinearConv '${node.name}': weights '${i[3]}' are not a constant`);
        const wq = numbers(w);
        const ws = value(i[4], 'weight scale');
        const wz = value(i[5], 'weight zero point');
        const channels = Number(w.dims![0]);
        const per = wq.length / channels;
        const perChannel = (arr: number[], c: number) => arr[arr.length === 1 ? 0 : c]!;
        const wf = new Float32Array(wq.length);
        for (let c = 0; c < channels; c++)
          for (let k = c * per; k < (c + 1) * per; k++) wf[k] = (wq[k]! - perChannel(wz, c)) * perChannel(ws, c);
        const id = node.output![0]!;
        added.push(floatInit(`${id}_W`, w.dims!.map(Number), wf));
        const inputs = [i[0]!, `${id}_W`];
        if (i[8]) {
          const b = value(i[8], 'bias');
          added.push(
            floatInit(
              `${id}_B`,
              [channels],
              b.map((v, c) => v * xScale * perChannel(ws, c)),
            ),
          );
          inputs.push(`${id}_B`);
        }
        const conv = onnx.NodeProto.create({
          opType: 'Conv',
          input: inputs,
          output: [`${id}_float`],
          name: `${id}_conv`,
          attribute: node.attribute,
        });
        clipped(node, conv, i[6]!, i[7]!);
        break;
      }
      case 'QLinearAdd':
        clipped(node, makeNode('Add', [i[0]!, i[3]!], [`${node.output![0]}_float`]), i[6]!, i[7]!);
        break;
      case 'QLinearGlobalAveragePool':
        clipped(node, makeNode('GlobalAveragePool', [i[0]!], [`${node.output![0]}_float`]), i[3]!, i[4]!);
        break;
      default:
        if ((node.opType ?? '').startsWith('QLinear') || /Integer$/.test(node.opType ?? '') || (node.domain ?? '') !== '')
          throw new QuantizationError(`node '${node.name}': ${node.opType} has no float rebuild here; choose earlier layers`);
        nodes.push(node);
    }
  }
  graph.node = nodes;
  const used = new Set(nodes.flatMap((n) => n.input ?? []));
  graph.initializer = [...(graph.initializer ?? []).filter((t) => used.has(t.name ?? '')), ...added];
  graph.valueInfo = [];
  model.opsetImport = [onnx.OperatorSetIdProto.create({ domain: '', version: 13 })];
  model.producerName = 'patchline dequantize';
  return encodeModel(model);
}
