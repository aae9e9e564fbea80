// Post-training quantization as graph surgery: a float backbone becomes a QDQ graph
// (QuantizeLinear/DequantizeLinear around every convolution), the form onnxruntime fuses into
// integer kernels on CPUs and TensorRT takes as explicit quantization. Pure: the activation
// ranges come from calibration (calibrate-activations.ts), the graph from a prepared backbone.
import { DataType, decodeModel, encodeModel, makeNode, onnx, type ModelProto, type NodeProto, type TensorProto } from './onnx-graph.js';

/** Ops whose presence means the graph already carries quantized arithmetic. */
const QUANTIZED_OPS = new Set([
  'QuantizeLinear',
  'DequantizeLinear',
  'DynamicQuantizeLinear',
  'QLinearConv',
  'QLinearMatMul',
  'QLinearAdd',
  'QLinearMul',
  'ConvInteger',
  'MatMulInteger',
]);

/** Ops whose activation inputs and outputs get a quantize/dequantize pair. */
const QUANTIZED_ACTIVATION_OPS = new Set(['Conv', 'Add', 'MaxPool', 'AveragePool', 'GlobalAveragePool', 'Concat']);

/** Ops that keep their meaning when the graph's opset is raised to 13 (per-channel QDQ needs it). */
const SAFE_BELOW_13 = new Set([
  'Conv',
  'Relu',
  'Clip',
  'Add',
  'Mul',
  'MaxPool',
  'AveragePool',
  'GlobalAveragePool',
  'Identity',
  'Concat',
  'BatchNormalization',
  'Sigmoid',
  'HardSigmoid',
]);

export class QuantizationError extends Error {}

export interface QuantizeOptions {
  /**
   * 'cpu': uint8 asymmetric activations, the ReLU/clip after a convolution folded into its
   * quantization (onnxruntime's u8s8 kernels). 'tensorrt': int8 symmetric activations (zero
   * point 0, TensorRT's explicit quantization), activations kept as nodes.
   */
  target: 'cpu' | 'tensorrt';
  /** 7-bit weights: keeps u8s8 products from saturating on x86 CPUs without VNNI. */
  reduceRange: boolean;
}

/** Per-tensor activation range seen during calibration. */
export type ActivationRanges = Map<string, { min: number; max: number }>;

/** Describes quantized ops in a graph ("QLinearConv x52, ..."), or undefined for a float graph. */
export function quantizedOpsIn(model: ModelProto): string | undefined {
  const counts = new Map<string, number>();
  for (const n of model.graph?.node ?? []) if (QUANTIZED_OPS.has(n.opType ?? '')) counts.set(n.opType!, (counts.get(n.opType!) ?? 0) + 1);
  if (counts.size === 0) return undefined;
  return [...counts].map(([op, n]) => `${op} x${n}`).join(', ');
}

function initializerMap(model: ModelProto): Map<string, TensorProto> {
  return new Map((model.graph?.initializer ?? []).map((t) => [t.name ?? '', t as TensorProto]));
}

/**
 * Torch exports often pass weights through Identity nodes; quantization needs to see the
 * initializer itself, so consumers read it directly.
 */
function bypassInitializerIdentities(model: ModelProto): void {
  const graph = model.graph!;
  const inits = initializerMap(model);
  const alias = new Map<string, string>();
  for (const n of graph.node ?? []) if (n.opType === 'Identity' && inits.has(n.input?.[0] ?? '')) alias.set(n.output![0]!, n.input![0]!);
  if (alias.size === 0) return;
  const outputs = new Set((graph.output ?? []).map((o) => o.name));
  graph.node = (graph.node ?? []).filter(
    (n) => !(n.opType === 'Identity' && alias.has(n.output?.[0] ?? '') && !outputs.has(n.output![0]!)),
  );
  for (const n of graph.node ?? []) n.input = (n.input ?? []).map((i) => alias.get(i) ?? i);
}

function consumers(model: ModelProto): Map<string, NodeProto[]> {
  const map = new Map<string, NodeProto[]>();
  for (const n of model.graph?.node ?? []) for (const i of n.input ?? []) if (i) map.set(i, [...(map.get(i) ?? []), n as NodeProto]);
  return map;
}

/** Lower bound of a Clip node (attribute before opset 11, input after), or undefined. */
function clipMin(node: NodeProto, inits: Map<string, TensorProto>): number | undefined {
  const attr = (node.attribute ?? []).find((a) => a.name === 'min');
  if (attr) return attr.f ?? 0;
  const name = node.input?.[1];
  if (!name) return -Infinity;
  const t = inits.get(name);
  if (!t) return undefined;
  return floatsOf(t)[0];
}

/**
 * A ReLU (or a clip at 0) that alone reads a convolution's (or a residual sum's) output is
 * folded into the quantization of that output: the uint8 zero point sits at 0, so quantizing clamps negatives
 * exactly as the ReLU did. Its output name is kept, so calibration on the float graph sees the
 * same tensor.
 */
function foldActivations(model: ModelProto): void {
  const graph = model.graph!;
  const inits = initializerMap(model);
  const readers = consumers(model);
  const outputs = new Set((graph.output ?? []).map((o) => o.name));
  const drop = new Set<NodeProto>();
  for (const n of graph.node ?? []) {
    if (n.opType !== 'Conv' && n.opType !== 'Add') continue;
    const out = n.output![0]!;
    const r = readers.get(out) ?? [];
    if (r.length !== 1 || outputs.has(out)) continue;
    const act = r[0]!;
    const foldable = act.opType === 'Relu' || (act.opType === 'Clip' && clipMin(act, inits) === 0);
    // A graph output is read as float, before any quantization clamps it: its ReLU stays.
    if (!foldable || outputs.has(act.output![0]!)) continue;
    n.output = [act.output![0]!];
    drop.add(act);
  }
  graph.node = (graph.node ?? []).filter((n) => !drop.has(n as NodeProto));
}

/** Prepares a float graph for quantization and lists the activation tensors to calibrate. */
export function planQuantization(modelBytes: Uint8Array, options: QuantizeOptions): { model: ModelProto; tensors: string[] } {
  const model = decodeModel(modelBytes);
  if (!model.graph) throw new QuantizationError('model has no graph');
  const already = quantizedOpsIn(model);
  if (already)
    throw new QuantizationError(
      `the backbone is already quantized (${already}); quantize its float source, or use it as it is (patchline runs int8 graphs directly)`,
    );
  raiseOpset(model);
  bypassInitializerIdentities(model);
  if (options.target === 'cpu') foldActivations(model);
  const inits = initializerMap(model);
  const tensors = new Set<string>();
  for (const n of model.graph.node ?? []) {
    if (!QUANTIZED_ACTIVATION_OPS.has(n.opType ?? '')) continue;
    const inputs = n.opType === 'Conv' ? [n.input![0]!] : (n.input ?? []);
    for (const t of [...inputs, n.output![0]!]) if (t && !inits.has(t)) tensors.add(t);
  }
  if (tensors.size === 0) throw new QuantizationError('the graph has no convolution to quantize');
  return { model, tensors: [...tensors] };
}

function raiseOpset(model: ModelProto): void {
  const main = (model.opsetImport ?? []).find((o) => (o.domain ?? '') === '');
  const version = Number(main?.version ?? 0);
  if (version >= 13) return;
  const unsafe = (model.graph?.node ?? []).find((n) => (n.domain ?? '') === '' && !SAFE_BELOW_13.has(n.opType ?? ''));
  if (unsafe)
    throw new QuantizationError(
      `the graph uses ONNX opset ${version} with a ${unsafe.opType} node; per-channel quantization needs opset 13 (re-export the backbone, e.g. tools/export_backbone.py --opset 17)`,
    );
  if (main) main.version = 13;
  else model.opsetImport = [...(model.opsetImport ?? []), onnx.OperatorSetIdProto.create({ domain: '', version: 13 })];
}

function floatsOf(t: TensorProto): Float32Array {
  if (t.dataType !== DataType.FLOAT) throw new QuantizationError(`initializer '${t.name}' is not float32`);
  if (t.rawData && t.rawData.length > 0) {
    const copy = new Uint8Array(t.rawData);
    return new Float32Array(copy.buffer, 0, copy.byteLength / 4);
  }
  return Float32Array.from(t.floatData ?? []);
}

function tensorOf(name: string, dims: number[], dataType: number, bytes: Uint8Array): TensorProto {
  return onnx.TensorProto.create({ name, dims, dataType, rawData: bytes });
}

const scalarFloat = (name: string, v: number) => tensorOf(name, [], DataType.FLOAT, new Uint8Array(Float32Array.of(v).buffer));

/** Scale and zero point of an activation range; the range always holds 0 so that 0 is exact. */
export function activationParams(range: { min: number; max: number }, target: QuantizeOptions['target']): { scale: number; zero: number } {
  const lo = Math.min(0, range.min);
  const hi = Math.max(0, range.max);
  if (target === 'tensorrt') {
    const m = Math.max(-lo, hi);
    return { scale: m > 0 ? m / 127 : 1, zero: 0 };
  }
  const scale = hi - lo > 0 ? (hi - lo) / 255 : 1;
  return { scale, zero: Math.min(255, Math.max(0, Math.round(-lo / scale))) };
}

/** Symmetric per-output-channel int8 weights: scales [O] and values. */
export function quantizeWeights(w: Float32Array, channels: number, reduceRange: boolean): { scales: Float32Array; values: Int8Array } {
  const qmax = reduceRange ? 63 : 127;
  const per = w.length / channels;
  const scales = new Float32Array(channels);
  const values = new Int8Array(w.length);
  for (let c = 0; c < channels; c++) {
    let m = 0;
    for (let i = c * per; i < (c + 1) * per; i++) m = Math.max(m, Math.abs(w[i]!));
    const s = m > 0 ? m / qmax : 1;
    scales[c] = s;
    for (let i = c * per; i < (c + 1) * per; i++) values[i] = Math.max(-qmax, Math.min(qmax, Math.round(w[i]! / s)));
  }
  return { scales, values };
}

/**
 * Rewrites the planned graph into QDQ form: each calibrated activation tensor T gets
 * QuantizeLinear -> DequantizeLinear and its readers read the dequantized copy; each
 * convolution's weights become int8 per output channel and its bias int32 at
 * (input scale x weight scale), both behind DequantizeLinear.
 */
export function quantizeGraph(model: ModelProto, ranges: ActivationRanges, options: QuantizeOptions): Uint8Array {
  const graph = model.graph!;
  const inits = initializerMap(model);
  const actType = options.target === 'tensorrt' ? DataType.INT8 : DataType.UINT8;
  const added: TensorProto[] = [];
  const qdq: NodeProto[] = [];
  const dequantized = new Map<string, string>();
  const scaleOf = new Map<string, number>();
  for (const [tensor, range] of ranges) {
    const { scale, zero } = activationParams(range, options.target);
    const zeroBytes = actType === DataType.INT8 ? new Uint8Array(Int8Array.of(zero).buffer) : Uint8Array.of(zero);
    added.push(scalarFloat(`${tensor}_scale`, scale), tensorOf(`${tensor}_zero_point`, [], actType, zeroBytes));
    qdq.push(
      makeNode(
        'QuantizeLinear',
        [tensor, `${tensor}_scale`, `${tensor}_zero_point`],
        [`${tensor}_quantized`],
        {},
        `${tensor}_QuantizeLinear`,
      ),
      makeNode(
        'DequantizeLinear',
        [`${tensor}_quantized`, `${tensor}_scale`, `${tensor}_zero_point`],
        [`${tensor}_dequantized`],
        {},
        `${tensor}_DequantizeLinear`,
      ),
    );
    dequantized.set(tensor, `${tensor}_dequantized`);
    scaleOf.set(tensor, scale);
  }
  const replaced = new Set<string>();
  for (const n of graph.node ?? []) {
    n.input = (n.input ?? []).map((i) => dequantized.get(i) ?? i);
    if (n.opType !== 'Conv') continue;
    const x = n.input[0]!.replace(/_dequantized$/, '');
    const xScale = scaleOf.get(x);
    const wName = n.input[1]!;
    const w = inits.get(wName);
    if (xScale === undefined || !w) continue;
    const channels = Number(w.dims![0]);
    const { scales, values } = quantizeWeights(floatsOf(w), channels, options.reduceRange);
    const id = n.name || n.output![0]!;
    added.push(
      tensorOf(`${id}_W_quantized`, w.dims!.map(Number), DataType.INT8, new Uint8Array(values.buffer)),
      tensorOf(`${id}_W_scale`, [channels], DataType.FLOAT, new Uint8Array(scales.buffer)),
      tensorOf(`${id}_W_zero_point`, [channels], DataType.INT8, new Uint8Array(channels)),
    );
    qdq.push(
      makeNode('DequantizeLinear', [`${id}_W_quantized`, `${id}_W_scale`, `${id}_W_zero_point`], [`${id}_W_dequantized`], { axis: 0 }),
    );
    n.input[1] = `${id}_W_dequantized`;
    replaced.add(wName);
    const bName = n.input[2];
    const b = bName ? inits.get(bName) : undefined;
    if (bName && b) {
      const bias = floatsOf(b);
      const bScales = scales.map((s) => s * xScale);
      const bValues = Int32Array.from(bias, (v, c) => Math.round(v / bScales[c]!));
      added.push(
        tensorOf(`${id}_B_quantized`, [channels], DataType.INT32, new Uint8Array(bValues.buffer)),
        tensorOf(`${id}_B_scale`, [channels], DataType.FLOAT, new Uint8Array(bScales.buffer)),
        tensorOf(`${id}_B_zero_point`, [channels], DataType.INT32, new Uint8Array(4 * channels)),
      );
      qdq.push(
        makeNode('DequantizeLinear', [`${id}_B_quantized`, `${id}_B_scale`, `${id}_B_zero_point`], [`${id}_B_dequantized`], { axis: 0 }),
      );
      n.input[2] = `${id}_B_dequantized`;
      replaced.add(bName);
    }
  }
  const stillRead = new Set((graph.node ?? []).flatMap((n) => n.input ?? []));
  graph.initializer = [...(graph.initializer ?? []).filter((t) => !replaced.has(t.name ?? '') || stillRead.has(t.name ?? '')), ...added];
  graph.node = topologicalOrder(
    [...(graph.node as NodeProto[]), ...qdq],
    new Set([...(graph.input ?? []).map((i) => i.name ?? ''), ...(graph.initializer ?? []).map((t) => t.name ?? '')]),
  );
  graph.valueInfo = [];
  model.producerName = 'patchline quantize';
  return encodeModel(model);
}

/** ONNX requires nodes in topological order; the added pairs sit right after their producers. */
function topologicalOrder(nodes: NodeProto[], available: Set<string>): NodeProto[] {
  const ready = new Set(available);
  const out: NodeProto[] = [];
  let pending = nodes;
  while (pending.length > 0) {
    const next: NodeProto[] = [];
    for (const n of pending) {
      if ((n.input ?? []).every((i) => !i || ready.has(i))) {
        out.push(n);
        for (const o of n.output ?? []) ready.add(o);
      } else next.push(n);
    }
    if (next.length === pending.length) throw new QuantizationError(`graph has a cycle or a missing input at node '${next[0]!.name}'`);
    pending = next;
  }
  return out;
}
