/** A dense tensor passed between patchline and onnxruntime (row-major). */
export interface Tensor {
  type: 'float32' | 'int64' | 'uint8' | 'int8' | 'int32';
  data: Float32Array | BigInt64Array | Uint8Array | Int8Array | Int32Array;
  dims: number[];
}

export interface FloatTensor extends Tensor {
  type: 'float32';
  data: Float32Array;
}

export type TensorMap = Record<string, Tensor>;

export function floatTensor(data: Float32Array, dims: number[]): FloatTensor {
  const n = dims.reduce((a, b) => a * b, 1);
  if (n !== data.length) throw new RangeError(`tensor data has ${data.length} values, dims [${dims.join(',')}] need ${n}`);
  return { type: 'float32', data, dims };
}

export function asFloat(t: Tensor | undefined, what: string): FloatTensor {
  if (!t) throw new Error(`missing tensor '${what}'`);
  if (t.type !== 'float32') throw new Error(`tensor '${what}' is ${t.type}, expected float32`);
  return t as FloatTensor;
}
