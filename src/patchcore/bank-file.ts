// The memory bank file: safetensors layout (8-byte little-endian header length, JSON header,
// raw tensors), so Python's `safetensors` or a few lines of any language read it. The header's
// __metadata__ holds the format name, version, a JSON manifest with everything needed to score
// with the bank, and a checksum over all of it (docs/bank-format.md).
import { createHash } from 'node:crypto';
import { constants } from 'node:fs';
import { open } from 'node:fs/promises';
import { z } from 'zod';
import { writeFileAtomic } from '../io/atomic-file.js';
import type { Normalization, ResizePolicy } from '../preprocess/transform.js';

export const BANK_FORMAT = 'patchline-bank';
export const BANK_FORMAT_VERSION = 2;
/** Files larger than this are refused before they are read (a bank of 1M rows x 1024 dims is 4 GiB). */
export const DEFAULT_MAX_BANK_BYTES = 8 * 2 ** 30;

export interface Calibration {
  /** Image-score threshold: at or above it an image is anomalous (NaN: none). */
  threshold: number;
  method: 'holdout-quantile' | 'validation-f1' | 'reviews' | 'none';
  /** For holdout-quantile: the quantile of held-out good images' scores and the relative margin. */
  quantile?: number;
  margin?: number;
  /** Scores of the images the threshold came from (summary). */
  scores: { count: number; min: number; median: number; max: number };
  /** For validation-f1: F1 reached on the validation folder. */
  f1?: number;
}

// JSON has no NaN: a missing threshold or an empty score summary is written as null.
const numberOrNaN = z
  .number()
  .nullable()
  .transform((v) => v ?? NaN);
const count = z.number().int().min(0);
const size = z.number().int().min(1);

const manifestSchema = z.object({
  format: z.literal(BANK_FORMAT),
  version: z.number().int(),
  createdAt: z.string(),
  patchlineVersion: z.string(),
  backbone: z.object({
    ref: z.string(),
    name: z.string(),
    sha256: z.string().regex(/^[0-9a-f]{64}$/),
    layers: z.array(z.object({ name: z.string(), tensor: z.string(), channels: size, height: size, width: size })).min(1),
  }),
  input: z.object({
    width: size,
    height: size,
    resize: z.discriminatedUnion('mode', [
      z.object({ mode: z.literal('shorter-side'), resize: size, crop: size }),
      z.object({ mode: z.literal('exact'), width: size, height: size }),
    ]),
    normalization: z.object({ mean: z.tuple([z.number(), z.number(), z.number()]), std: z.tuple([z.number(), z.number(), z.number()]) }),
  }),
  head: z.object({ patchsize: size, pretrainDim: size, targetDim: size }),
  grid: z.object({ height: size, width: size }),
  scorer: z.object({ k: size, mapSigma: z.number().min(0) }),
  coreset: z.object({ method: z.string(), percentage: z.number(), seed: z.number().int(), inputRows: count, rows: size }),
  calibration: z.object({
    threshold: numberOrNaN,
    method: z.enum(['holdout-quantile', 'validation-f1', 'reviews', 'none']),
    quantile: z.number().optional(),
    margin: z.number().optional(),
    scores: z.object({ count, min: numberOrNaN, median: numberOrNaN, max: numberOrNaN }),
    f1: z.number().optional(),
  }),
  training: z.object({
    folder: z.string(),
    images: count,
    bankImages: count,
    holdoutImages: count,
    imageFiles: z.array(z.string()).optional(),
    holdoutFiles: z.array(z.string()).optional(),
    additions: z
      .array(
        z.object({ at: z.string(), folder: z.string(), images: count, patches: count, rows: count, files: z.array(z.string()).optional() }),
      )
      .optional(),
  }),
  origin: z
    .object({ action: z.enum(['fit', 'teach', 'add', 'threshold', 'import']), parent: z.string().optional(), note: z.string().optional() })
    .optional(),
  dataSha256: z.string().regex(/^[0-9a-f]{64}$/),
});

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
  training: {
    folder: string;
    images: number;
    bankImages: number;
    holdoutImages: number;
    imageFiles?: string[];
    /** The held-out good images the threshold came from: a bank update recalibrates on them. */
    holdoutFiles?: string[];
    /** Good images added to the bank after the fit (patchline bank add), oldest first. */
    additions?: BankAddition[];
  };
  /** How this bank was made from which (bank stores: parent is the version it came from). */
  origin?: BankOrigin;
  /** sha256 of the data section (all tensors). */
  dataSha256: string;
}

export interface BankAddition {
  at: string;
  folder: string;
  images: number;
  /** Patch embeddings of the new images, and how many of them became bank rows. */
  patches: number;
  rows: number;
  /** File names of the added images (what the page checks before offering them again). */
  files?: string[];
}

export interface BankOrigin {
  action: 'fit' | 'teach' | 'add' | 'threshold' | 'import';
  /** The bank it was made from (a store's `recipe@vN`). */
  parent?: string;
  note?: string;
}

export interface Bank {
  manifest: BankManifest;
  /** [rows, dim] */
  rows: Float32Array;
}

/** A bank that exists only in memory (fitted, cut or calibrated, not yet written): no file checksum. */
export function unsavedBank(manifest: Omit<BankManifest, 'format' | 'version' | 'dataSha256'>, rows: Float32Array): Bank {
  return { manifest: { ...manifest, format: BANK_FORMAT, version: BANK_FORMAT_VERSION, dataSha256: '' }, rows };
}

/** A bank read from a file: `checksum` covers the tensor header and the manifest (which holds the data's sha256). */
export interface StoredBank extends Bank {
  checksum: string;
}

export class BankFileError extends Error {}

interface TensorEntry {
  dtype: string;
  shape: number[];
  data_offsets: [number, number];
}

/** sha256 over everything the header says: format, version, tensor layout and manifest text. */
function headerChecksum(format: string, version: string, t: TensorEntry, manifest: string): string {
  return createHash('sha256')
    .update(JSON.stringify([format, version, { dtype: t.dtype, shape: t.shape, data_offsets: t.data_offsets }, manifest]))
    .digest('hex');
}

/**
 * Writes atomically: a temporary file beside the target, fsync'd, renamed over it, and the
 * folder fsync'd. A crash or a full disk leaves the previous file whole and no partial bank.
 */
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
  const tensor: TensorEntry = { dtype: 'F32', shape: [rows.length / dim, dim], data_offsets: [0, data.length] };
  const manifestText = JSON.stringify(full);
  const version = String(BANK_FORMAT_VERSION);
  const header = {
    bank: tensor,
    __metadata__: {
      format: BANK_FORMAT,
      version,
      manifest: manifestText,
      checksum: headerChecksum(BANK_FORMAT, version, tensor, manifestText),
    },
  };
  let json = JSON.stringify(header);
  json += ' '.repeat((8 - (json.length % 8)) % 8);
  const len = Buffer.alloc(8);
  len.writeBigUInt64LE(BigInt(Buffer.byteLength(json)));
  try {
    writeFileAtomic(path, [len, Buffer.from(json), data]);
  } catch (e) {
    throw new BankFileError(`${path}: cannot write bank: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`);
  }
  return full;
}

/**
 * Reads and checks a bank file: regular files only (a FIFO or a device is refused without
 * blocking), at most `maxBytes`, read without blocking the event loop.
 */
export async function readBank(path: string, opts: { maxBytes?: number } = {}): Promise<StoredBank> {
  const maxBytes = opts.maxBytes ?? DEFAULT_MAX_BANK_BYTES;
  let buf: Buffer;
  try {
    const fh = await open(path, constants.O_RDONLY | constants.O_NONBLOCK);
    try {
      const st = await fh.stat();
      if (!st.isFile()) throw new BankFileError(`${path}: not a regular file; a bank is a file written by 'patchline fit'`);
      if (st.size > maxBytes) throw new BankFileError(`${path}: ${st.size} bytes is larger than the ${maxBytes}-byte limit for a bank`);
      buf = await fh.readFile();
    } finally {
      await fh.close();
    }
  } catch (e) {
    if (e instanceof BankFileError) throw e;
    throw new BankFileError(`${path}: cannot read bank: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`);
  }
  return parseBank(buf, path);
}

export function parseBank(buf: Buffer, path: string): StoredBank {
  const refit = `refit it with 'patchline fit'`;
  const { manifest, checksum, tensor: t, headerLen } = parseHeader(buf, buf.length, path);
  const [rowCount, dim] = t.shape as [number, number];
  const start = 8 + headerLen + t.data_offsets[0];
  const end = 8 + headerLen + t.data_offsets[1];
  const data = buf.subarray(8 + headerLen);
  const sha = createHash('sha256').update(data).digest('hex');
  if (sha !== manifest.dataSha256) {
    throw new BankFileError(
      `${path}: corrupted bank: data checksum ${sha.slice(0, 12)}… does not match the manifest's ${manifest.dataSha256.slice(0, 12)}…; ${refit}`,
    );
  }
  const rows = new Float32Array(rowCount * dim);
  new Uint8Array(rows.buffer).set(buf.subarray(start, end));
  return { manifest, rows, checksum };
}

/**
 * A bank's manifest and checksum from its header alone (listing a store's versions without
 * reading gigabytes); the data is checked when the bank is read.
 */
export async function readBankManifest(path: string): Promise<{ manifest: BankManifest; checksum: string }> {
  try {
    const fh = await open(path, constants.O_RDONLY | constants.O_NONBLOCK);
    try {
      const st = await fh.stat();
      if (!st.isFile()) throw new BankFileError(`${path}: not a regular file; a bank is a file written by 'patchline fit'`);
      const prefix = Buffer.alloc(8);
      await fh.read(prefix, 0, 8, 0);
      const headerLen = st.size >= 8 ? Number(prefix.readBigUInt64LE(0)) : 0;
      const buf = Buffer.alloc(8 + Math.min(Math.max(headerLen, 0), 100_000_000, Math.max(st.size - 8, 0)));
      await fh.read(buf, 0, buf.length, 0);
      const { manifest, checksum } = parseHeader(buf, st.size, path);
      return { manifest, checksum };
    } finally {
      await fh.close();
    }
  } catch (e) {
    if (e instanceof BankFileError) throw e;
    throw new BankFileError(`${path}: cannot read bank: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`);
  }
}

/** Checks the 8-byte length, the header and the manifest; `fileLength` for the truncation check. */
function parseHeader(
  buf: Buffer,
  fileLength: number,
  path: string,
): { manifest: BankManifest; checksum: string; tensor: TensorEntry; headerLen: number } {
  const refit = `refit it with 'patchline fit'`;
  if (fileLength < 8) throw new BankFileError(`${path}: not a patchline bank (file is ${fileLength} bytes); ${refit}`);
  const headerLen = Number(buf.readBigUInt64LE(0));
  if (headerLen <= 0 || headerLen > 100_000_000 || 8 + headerLen > fileLength || 8 + headerLen > buf.length) {
    throw new BankFileError(`${path}: truncated or not a patchline bank (header length ${headerLen}, file ${fileLength} bytes); ${refit}`);
  }
  let header: Record<string, unknown>;
  try {
    header = JSON.parse(buf.subarray(8, 8 + headerLen).toString('utf8'));
  } catch {
    throw new BankFileError(`${path}: corrupted bank header (not JSON); ${refit}`);
  }
  const meta = header.__metadata__ as Record<string, string> | undefined;
  if (meta?.format !== BANK_FORMAT)
    throw new BankFileError(`${path}: not a patchline bank (format '${String(meta?.format ?? 'missing')}')`);
  const legacy = meta.version === '1';
  if (meta.version !== String(BANK_FORMAT_VERSION) && !legacy) {
    throw new BankFileError(
      `${path}: bank format version ${String(meta.version)} is not supported by this patchline (reads versions 1-${BANK_FORMAT_VERSION}); upgrade patchline or ${refit}`,
    );
  }
  const t = header.bank as TensorEntry | undefined;
  const layoutOk =
    t &&
    t.dtype === 'F32' &&
    Array.isArray(t.shape) &&
    t.shape.length === 2 &&
    t.shape.every((d) => Number.isInteger(d) && d > 0) &&
    Array.isArray(t.data_offsets) &&
    t.data_offsets.length === 2 &&
    t.data_offsets.every((o) => Number.isInteger(o) && o >= 0);
  if (!layoutOk) throw new BankFileError(`${path}: bank tensor missing or not float32 [rows, dim]; ${refit}`);
  if (typeof meta.manifest !== 'string') throw new BankFileError(`${path}: bank header has no manifest; ${refit}`);
  const checksum = legacy ? undefined : headerChecksum(meta.format, String(meta.version), t, meta.manifest);
  if (!legacy && checksum !== meta.checksum) {
    throw new BankFileError(
      `${path}: bank header or manifest was modified: checksum ${checksum?.slice(0, 12)}… does not match the recorded ${String(meta.checksum).slice(0, 12)}…; ${refit}`,
    );
  }
  let raw: unknown;
  try {
    raw = JSON.parse(meta.manifest);
  } catch (e) {
    throw new BankFileError(`${path}: bank manifest is not JSON (${(e as Error).message}); ${refit}`);
  }
  const parsed = manifestSchema.safeParse(raw);
  if (!parsed.success) {
    const issues = parsed.error.issues.slice(0, 5).map((i) => `${i.path.join('.') || '(manifest)'}: ${i.message}`);
    throw new BankFileError(`${path}: bank manifest is invalid: ${issues.join('; ')}; ${refit}`);
  }
  const manifest = parsed.data as BankManifest;
  const [rowCount, dim] = t.shape as [number, number];
  if (dim !== manifest.head.targetDim || rowCount !== manifest.coreset.rows) {
    throw new BankFileError(
      `${path}: bank tensor is [${rowCount}, ${dim}] but the manifest says ${manifest.coreset.rows} rows of ${manifest.head.targetDim} dims; ${refit}`,
    );
  }
  const start = 8 + headerLen + t.data_offsets[0];
  const end = 8 + headerLen + t.data_offsets[1];
  if (end > fileLength || end - start !== rowCount * dim * 4) {
    throw new BankFileError(
      `${path}: truncated bank: expected ${end - 8 - headerLen} data bytes, file has ${fileLength - 8 - headerLen}; ${refit}`,
    );
  }
  // Version 1 files have no header checksum: their id comes from the data checksum alone.
  return { manifest, checksum: checksum ?? manifest.dataSha256, tensor: t, headerLen };
}

/** A bank the live service can run: its threshold decides every result. */
export function requireThreshold(manifest: BankManifest, path: string): void {
  if (!Number.isFinite(manifest.calibration.threshold) || manifest.calibration.threshold <= 0) {
    throw new BankFileError(
      `${path}: the bank has no threshold (calibration method '${manifest.calibration.method}'); fit it with held-out good images (--holdout) or a labelled --validation folder before running it`,
    );
  }
}
