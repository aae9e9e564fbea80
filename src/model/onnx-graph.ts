// A small builder for ONNX graphs written in TypeScript (head, scorer), and the protobuf
// codec for reading and editing existing models (backbone preparation). onnxruntime runs the
// result, so the numerics patchline builds here run where the backbone runs (CPU, CUDA, TRT).
import onnxProto from 'onnx-proto';

export const onnx = onnxProto.onnx;
export type ModelProto = InstanceType<typeof onnx.ModelProto>;
export type NodeProto = InstanceType<typeof onnx.NodeProto>;
export type TensorProto = InstanceType<typeof onnx.TensorProto>;

export const DataType = { FLOAT: 1, UINT8: 2, INT8: 3, INT32: 6, INT64: 7, BOOL: 9, FLOAT16: 10 } as const;

export type GraphProto = InstanceType<typeof onnx.GraphProto>;

export type Dim = number | string;

export function decodeModel(bytes: Uint8Array): ModelProto {
  return onnx.ModelProto.decode(bytes);
}

export function encodeModel(model: ModelProto): Uint8Array {
  return onnx.ModelProto.encode(model).finish();
}

export function valueInfo(name: string, elemType: number, dims?: Dim[]) {
  return onnx.ValueInfoProto.create({
    name,
    type: {
      tensorType: {
        elemType,
        ...(dims ? { shape: { dim: dims.map((d) => (typeof d === 'number' ? { dimValue: d } : { dimParam: d })) } } : {}),
      },
    },
  });
}

type AttrValue = number | number[] | string | { ints: number[] } | { graph: GraphProto };

function attribute(name: string, value: AttrValue) {
  if (typeof value === 'object' && 'graph' in value)
    return onnx.AttributeProto.create({ name, type: onnx.AttributeProto.AttributeType.GRAPH, g: value.graph });
  if (typeof value === 'string')
    return onnx.AttributeProto.create({ name, type: onnx.AttributeProto.AttributeType.STRING, s: Buffer.from(value) });
  if (Array.isArray(value)) return onnx.AttributeProto.create({ name, type: onnx.AttributeProto.AttributeType.INTS, ints: value });
  if (typeof value === 'object')
    return onnx.AttributeProto.create({ name, type: onnx.AttributeProto.AttributeType.INTS, ints: value.ints });
  if (Number.isInteger(value)) return onnx.AttributeProto.create({ name, type: onnx.AttributeProto.AttributeType.INT, i: value });
  return onnx.AttributeProto.create({ name, type: onnx.AttributeProto.AttributeType.FLOAT, f: value });
}

export function makeNode(
  opType: string,
  inputs: string[],
  outputs: string[],
  attrs: Record<string, AttrValue> = {},
  name?: string,
): NodeProto {
  return onnx.NodeProto.create({
    opType,
    input: inputs,
    output: outputs,
    name: name ?? outputs[0] ?? opType,
    attribute: Object.entries(attrs).map(([k, v]) => attribute(k, v)),
  });
}

export function floatTensor(name: string, dims: number[], data: Float32Array | number[]): TensorProto {
  const f = data instanceof Float32Array ? data : Float32Array.from(data);
  return onnx.TensorProto.create({ name, dims, dataType: DataType.FLOAT, rawData: new Uint8Array(f.buffer, f.byteOffset, f.byteLength) });
}

export function boolTensor(name: string, dims: number[], data: boolean[]): TensorProto {
  return onnx.TensorProto.create({ name, dims, dataType: DataType.BOOL, rawData: Uint8Array.from(data, (b) => (b ? 1 : 0)) });
}

export function int64Tensor(name: string, dims: number[], data: ArrayLike<number>): TensorProto {
  const b = BigInt64Array.from(Array.from(data, (v) => BigInt(v)));
  return onnx.TensorProto.create({ name, dims, dataType: DataType.INT64, rawData: new Uint8Array(b.buffer) });
}

/**
 * Accumulates nodes and initializers with unique names. Methods return the name of the tensor
 * they produce, so graphs read as expressions.
 */
export class GraphBuilder {
  readonly nodes: NodeProto[] = [];
  readonly initializers: TensorProto[] = [];
  private counter = 0;

  /** `scope` keeps names of a subgraph's builder apart from the outer graph's. */
  constructor(private readonly scope = '') {}

  fresh(prefix: string): string {
    return `${this.scope}${prefix}_${this.counter++}`;
  }

  op(opType: string, inputs: string[], attrs: Record<string, AttrValue> = {}, outputName?: string): string {
    const out = outputName ?? this.fresh(opType.toLowerCase());
    this.nodes.push(makeNode(opType, inputs, [out], attrs));
    return out;
  }

  /** A node with several outputs; returns their names. */
  opMulti(opType: string, inputs: string[], outputs: number | string[], attrs: Record<string, AttrValue> = {}): string[] {
    const names =
      typeof outputs === 'number' ? Array.from({ length: outputs }, (_, i) => this.fresh(`${opType.toLowerCase()}_out${i}`)) : outputs;
    this.nodes.push(makeNode(opType, inputs, names, attrs));
    return names;
  }

  floats(prefix: string, dims: number[], data: Float32Array | number[]): string {
    const name = this.fresh(prefix);
    this.initializers.push(floatTensor(name, dims, data));
    return name;
  }

  int64s(prefix: string, data: ArrayLike<number>, dims: number[] = [data.length]): string {
    const name = this.fresh(prefix);
    this.initializers.push(int64Tensor(name, dims, data));
    return name;
  }

  bools(prefix: string, data: boolean[], dims: number[] = []): string {
    const name = this.fresh(prefix);
    this.initializers.push(boolTensor(name, dims, data));
    return name;
  }

  /** A subgraph (e.g. a Loop body) that may read this builder's tensors from the outer scope. */
  subgraph(name: string, inputs: ReturnType<typeof valueInfo>[], outputs: ReturnType<typeof valueInfo>[]): GraphProto {
    return onnx.GraphProto.create({ name, node: this.nodes, initializer: this.initializers, input: inputs, output: outputs });
  }

  build(opts: {
    name: string;
    inputs: ReturnType<typeof valueInfo>[];
    outputs: ReturnType<typeof valueInfo>[];
    opset?: number;
    docString?: string;
  }): ModelProto {
    return onnx.ModelProto.create({
      irVersion: 8,
      producerName: 'patchline',
      opsetImport: [{ domain: '', version: opts.opset ?? 17 }],
      docString: opts.docString ?? '',
      graph: {
        name: opts.name,
        node: this.nodes,
        initializer: this.initializers,
        input: opts.inputs,
        output: opts.outputs,
      },
    });
  }
}
