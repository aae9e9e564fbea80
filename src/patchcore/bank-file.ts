// The memory bank file: safetensors layout (8-byte little-endian header length, JSON header,
// raw tensors), so Python's `safetensors` or a few lines of any language read it. The header's
// __metadata__ holds the format name, version and a JSON manifest with everything needed to
// score with the bank (docs/bank-format.md).
import { closeSync, openSync, readFileSync, renameSync, writeSync } from 'node:fs';
import { createHash } from 'node:crypto';
import type { Normalization, ResizePolicy } from '../preprocess/transform.js';

export const BANK_FORMAT = 'patchline-bank';
export const BANK_FORMAT_VERSION = 1;

export interface Calibration {
  /** Image-score threshold: at or above it an image is anomalous. */
  threshold: number;
  method: 'holdout-quantile' | 'validation-f1' | 'none';
  /** For holdout-quantile: the quantile of held-out good images' scores and the relative margin. */
  quantile?: number;
  margin?: number;
  /** Scores of the images the threshold came from (summary). */
  scores: { count: number; min: number; median: number; max: number };
  /** For validation-f1: F1 reached on the validation folder. */
  f1?: number;
}

export interface BankManifest {
  format: typeof BANK_FORMAT;
  version: number;
  createdAt: string;
  patchlineVersion: string;
  backbone: {
    /** Catalogue name, spec path or ONNX path as given to fit. */
    ref: string;
    name: string;
    sha256: string;
    layers: { name: string; tensor: string; channels: number; height: number; width: number }[];
  };
  input: { width: number; height: number; resize: ResizePolicy; normalization: Normalization };
  head: { patchsize: number; pretrainDim: number; targetDim: number };
  grid: { height: number; width: number };
  scorer: { k: number; mapSigma: number };
  coreset: { method: string; percentage: number; seed: number; inputRows: number; rows: number };
  calibration: Calibration;
  training: { folder: string; images: number; bankImages: number; holdoutImages: number; imageFiles?: string[] };
  /** sha256 of the data section (all tensors). */
  dataSha256: string;
}

export interface Bank {
  manifest: BankManifest;
  /** [rows, dim] */
  rows: Float32Array;
}

export class BankFileError extends Error {}

export function writeBank(
  path: string,
  manifest: Omit<BankManifest, 'dataSha256' | 'format' | 'version'>,
  rows: Float32Array,
): BankManifest {
  const dim = manifest.head.targetDim;
  if (rows.length % dim !== 0) throw new RangeError(`bank of ${rows.length} values is not a multiple of dim ${dim}`);
  const data = Buffer.from(rows.buffer, rows.byteOffset, rows.byteLength);
  const full: BankManifest = {
    ...manifest,
    format: BANK_FORMAT,
    version: BANK_FORMAT_VERSION,
    dataSha256: createHash('sha256').update(data).digest('hex'),
  };
  const header = {
    bank: { dtype: 'F32', shape: [rows.length / dim, dim], data_offsets: [0, data.length] },
    __metadata__: { format: BANK_FORMAT, version: String(BANK_FORMAT_VERSION), manifest: JSON.stringify(full) },
  };
  let json = JSON.stringify(header);
  json += ' '.repeat((8 - (json.length % 8)) % 8);
  const len = Buffer.alloc(8);
  len.writeBigUInt64LE(BigInt(Buffer.byteLength(json)));
  // Written to a temporary name and renamed, so a running service never sees half a bank.
  const tmp = `${path}.${process.pid}.tmp`;
  const fd = openSync(tmp, 'w');
  try {
    writeSync(fd, len);
    writeSync(fd, Buffer.from(json));
    writeSync(fd, data);
  } finally {
    closeSync(fd);
  }
  renameSync(tmp, path);
  return full;
}

export function readBank(path: string): Bank {
  let buf: Buffer;
  try {
    buf = readFileSync(path);
  } catch (e) {
    throw new BankFileError(`${path}: cannot read bank: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`);
  }
  const refit = `refit it with 'patchline fit'`;
  if (buf.length < 8) throw new BankFileError(`${path}: not a patchline bank (file is ${buf.length} bytes); ${refit}`);
  const headerLen = Number(buf.readBigUInt64LE(0));
  if (headerLen <= 0 || headerLen > 100_000_000 || 8 + headerLen > buf.length) {
    throw new BankFileError(`${path}: truncated or not a patchline bank (header length ${headerLen}, file ${buf.length} bytes); ${refit}`);
  }
  let header: Record<string, { dtype: string; shape: number[]; data_offsets: [number, number] } | Record<string, string>>;
  try {
    header = JSON.parse(buf.subarray(8, 8 + headerLen).toString('utf8'));
  } catch {
    throw new BankFileError(`${path}: corrupted bank header (not JSON); ${refit}`);
  }
  const meta = header.__metadata__ as Record<string, string> | undefined;
  if (meta?.format !== BANK_FORMAT) throw new BankFileError(`${path}: not a patchline bank (format '${meta?.format ?? 'missing'}')`);
  if (meta.version !== String(BANK_FORMAT_VERSION)) {
    throw new BankFileError(
      `${path}: bank format version ${meta.version} is not supported by this patchline (reads version ${BANK_FORMAT_VERSION}); upgrade patchline or ${refit}`,
    );
  }
  const manifest = JSON.parse(meta.manifest ?? '{}') as BankManifest;
  const t = header.bank as { dtype: string; shape: number[]; data_offsets: [number, number] } | undefined;
  if (!t || t.dtype !== 'F32' || t.shape.length !== 2) throw new BankFileError(`${path}: bank tensor missing or not float32 [rows, dim]`);
  const start = 8 + headerLen + t.data_offsets[0];
  const end = 8 + headerLen + t.data_offsets[1];
  if (end > buf.length || end - start !== t.shape[0]! * t.shape[1]! * 4) {
    throw new BankFileError(
      `${path}: truncated bank: expected ${end - 8 - headerLen} data bytes, file has ${buf.length - 8 - headerLen}; ${refit}`,
    );
  }
  const data = buf.subarray(8 + headerLen);
  const sha = createHash('sha256').update(data).digest('hex');
  if (sha !== manifest.dataSha256)
    throw new BankFileError(
      `${path}: corrupted bank: data checksum ${sha.slice(0, 12)}… does not match the manifest's ${manifest.dataSha256?.slice(0, 12)}…; ${refit}`,
    );
  const rows = new Float32Array(t.shape[0]! * t.shape[1]!);
  new Uint8Array(rows.buffer).set(buf.subarray(start, end));
  return { manifest, rows };
}
