// NumPy .npy reader/writer (format versions 1.0-3.0, little-endian, C order).
// The reference fixtures and the `embed` CLI exchange arrays in this format.
import { readFileSync, writeFileSync } from 'node:fs';

export type NpyDtype = 'float32' | 'float64' | 'int64' | 'int32' | 'int8' | 'uint8';

export type NpyData = Float32Array | Float64Array | BigInt64Array | Int32Array | Int8Array | Uint8Array;

export interface NpyArray<T extends NpyData = NpyData> {
  dtype: NpyDtype;
  shape: number[];
  data: T;
}

const DESCR: Record<string, NpyDtype> = {
  '<f4': 'float32',
  '<f8': 'float64',
  '<i8': 'int64',
  '<i4': 'int32',
  '|i1': 'int8',
  '<i1': 'int8',
  '|u1': 'uint8',
  '<u1': 'uint8',
};

const DESCR_OF: Record<NpyDtype, string> = {
  float32: '<f4',
  float64: '<f8',
  int64: '<i8',
  int32: '<i4',
  int8: '|i1',
  uint8: '|u1',
};

const MAGIC = Buffer.from([0x93, 0x4e, 0x55, 0x4d, 0x50, 0x59]);

export class NpyError extends Error {}

export function parseNpy(bytes: Uint8Array, source = '<buffer>'): NpyArray {
  const buf = Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  if (buf.length < 10 || !buf.subarray(0, 6).equals(MAGIC)) {
    throw new NpyError(`${source}: not a .npy file (bad magic)`);
  }
  const major = buf[6]!;
  const headerLen = major === 1 ? buf.readUInt16LE(8) : buf.readUInt32LE(8);
  const headerStart = major === 1 ? 10 : 12;
  const header = buf.subarray(headerStart, headerStart + headerLen).toString('latin1');
  const descr = /'descr':\s*'([^']+)'/.exec(header)?.[1];
  const fortran = /'fortran_order':\s*(True|False)/.exec(header)?.[1];
  const shapeText = /'shape':\s*\(([^)]*)\)/.exec(header)?.[1];
  if (descr === undefined || fortran === undefined || shapeText === undefined) {
    throw new NpyError(`${source}: unreadable .npy header: ${header.trim()}`);
  }
  const dtype = DESCR[descr];
  if (!dtype) throw new NpyError(`${source}: unsupported dtype '${descr}' (supported: ${Object.keys(DESCR).join(', ')})`);
  if (fortran === 'True') throw new NpyError(`${source}: Fortran-order arrays are not supported; save with np.ascontiguousarray`);
  const shape = shapeText
    .split(',')
    .map((s) => s.trim())
    .filter((s) => s.length > 0)
    .map(Number);
  const count = shape.reduce((a, b) => a * b, 1);
  const dataStart = headerStart + headerLen;
  const bytesPer = bytesPerElement(dtype);
  if (buf.length - dataStart < count * bytesPer) {
    throw new NpyError(
      `${source}: truncated: shape [${shape.join(',')}] needs ${count * bytesPer} data bytes, file has ${buf.length - dataStart}`,
    );
  }
  // Copy so the typed array is aligned regardless of the header length.
  const raw = new Uint8Array(count * bytesPer);
  raw.set(buf.subarray(dataStart, dataStart + count * bytesPer));
  return { dtype, shape, data: typedView(dtype, raw.buffer) };
}

export function readNpy(path: string): NpyArray {
  let bytes: Buffer;
  try {
    bytes = readFileSync(path);
  } catch (e) {
    throw new NpyError(`${path}: cannot read: ${(e as Error).message}`);
  }
  return parseNpy(bytes, path);
}

/** Reads a .npy file that must hold float32 data (float64 is converted). */
export function readNpyFloat32(path: string): NpyArray<Float32Array> {
  const a = readNpy(path);
  if (a.dtype === 'float32') return a as NpyArray<Float32Array>;
  if (a.dtype === 'float64') return { dtype: 'float32', shape: a.shape, data: Float32Array.from(a.data as Float64Array) };
  throw new NpyError(`${path}: expected float32 data, found ${a.dtype}`);
}

export function encodeNpy(array: NpyArray): Buffer {
  const shapeText = array.shape.length === 1 ? `(${array.shape[0]},)` : `(${array.shape.join(', ')})`;
  let header = `{'descr': '${DESCR_OF[array.dtype]}', 'fortran_order': False, 'shape': ${shapeText}, }`;
  const unpadded = 10 + header.length + 1;
  header += ' '.repeat((64 - (unpadded % 64)) % 64) + '\n';
  const pre = Buffer.alloc(10);
  MAGIC.copy(pre, 0);
  pre[6] = 1;
  pre[7] = 0;
  pre.writeUInt16LE(header.length, 8);
  const d = array.data;
  return Buffer.concat([pre, Buffer.from(header, 'latin1'), Buffer.from(d.buffer, d.byteOffset, d.byteLength)]);
}

export function writeNpy(path: string, array: NpyArray): void {
  const expected = array.shape.reduce((a, b) => a * b, 1);
  if (array.data.length !== expected) {
    throw new NpyError(`${path}: data length ${array.data.length} does not match shape [${array.shape.join(',')}]`);
  }
  writeFileSync(path, encodeNpy(array));
}

function bytesPerElement(dtype: NpyDtype): number {
  return dtype === 'float64' || dtype === 'int64' ? 8 : dtype === 'float32' || dtype === 'int32' ? 4 : 1;
}

function typedView(dtype: NpyDtype, buffer: ArrayBuffer): NpyData {
  switch (dtype) {
    case 'float32':
      return new Float32Array(buffer);
    case 'float64':
      return new Float64Array(buffer);
    case 'int64':
      return new BigInt64Array(buffer);
    case 'int32':
      return new Int32Array(buffer);
    case 'int8':
      return new Int8Array(buffer);
    case 'uint8':
      return new Uint8Array(buffer);
  }
}
