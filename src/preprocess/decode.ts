// Image decoding at the edge of the pipeline: bytes -> OpenCV -> interleaved 8-bit RGB or gray.
// Every failure names the file, because a line of thousands of images must say which one broke.
// The size a file declares is checked before anything is decoded (a 1 MB PNG can declare
// 20000x20000 pixels), and OpenCV decodes on libuv's thread pool, off the event loop.
import { constants } from 'node:fs';
import { open } from 'node:fs/promises';
import type { Image8 } from '../core/image.js';
import { loadOpenCV, releasing } from './opencv.js';

/** Images declaring more pixels than this are refused unless a caller sets its own limit (50 MP: 8660x5773). */
export const DEFAULT_MAX_PIXELS = 50_000_000;
/** Files larger than this are refused before they are read. */
export const DEFAULT_MAX_FILE_BYTES = 256 * 2 ** 20;

export class ImageDecodeError extends Error {
  constructor(
    readonly source: string,
    reason: string,
    /** The file may still be being written (truncated): reading it again later may succeed. */
    readonly retryable = false,
  ) {
    super(`${source}: ${reason}`);
  }
}

type Format = 'png' | 'jpeg' | 'bmp' | 'tiff';

function sniff(bytes: Uint8Array): Format | undefined {
  const b = (i: number) => bytes[i];
  if (b(0) === 0x89 && b(1) === 0x50 && b(2) === 0x4e && b(3) === 0x47) return 'png';
  if (b(0) === 0xff && b(1) === 0xd8 && b(2) === 0xff) return 'jpeg';
  if (b(0) === 0x42 && b(1) === 0x4d) return 'bmp';
  if ((b(0) === 0x49 && b(1) === 0x49 && b(2) === 0x2a && b(3) === 0) || (b(0) === 0x4d && b(1) === 0x4d && b(2) === 0 && b(3) === 0x2a))
    return 'tiff';
  return undefined;
}

/**
 * OpenCV decodes a truncated JPEG or PNG into a partly grey image with only a warning on
 * stderr; a defect detector must not score such a frame, so the end markers are checked here.
 */
function truncation(format: Format, bytes: Uint8Array): string | undefined {
  const tail = (n: number) => Buffer.from(bytes.subarray(Math.max(0, bytes.length - n)));
  if (format === 'png' && !tail(64).includes(Buffer.from('IEND', 'latin1'))) return 'truncated PNG (no IEND chunk)';
  if (format === 'jpeg' && !tail(1024).includes(Buffer.from([0xff, 0xd9]))) return 'truncated JPEG (no end-of-image marker)';
  if (format === 'bmp' && bytes.length >= 6) {
    const declared = Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).readUInt32LE(2);
    if (declared > bytes.length) return `truncated BMP (header says ${declared} bytes, file has ${bytes.length})`;
  }
  return undefined;
}

/** JPEG start-of-frame markers (baseline, progressive, lossless, arithmetic), which carry the size. */
const SOF = new Set([0xc0, 0xc1, 0xc2, 0xc3, 0xc5, 0xc6, 0xc7, 0xc9, 0xca, 0xcb, 0xcd, 0xce, 0xcf]);

/** The width and height a file's header declares, read without decoding; undefined when the header cannot say. */
export function declaredSize(format: Format, bytes: Uint8Array): { width: number; height: number } | undefined {
  const buf = Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const n = buf.length;
  if (format === 'png') {
    if (n < 24 || buf.toString('latin1', 12, 16) !== 'IHDR') return undefined;
    return { width: buf.readUInt32BE(16), height: buf.readUInt32BE(20) };
  }
  if (format === 'jpeg') {
    let i = 2;
    while (i + 9 < n) {
      if (buf[i] !== 0xff) return undefined;
      const marker = buf[i + 1]!;
      if (marker === 0xff) {
        i++;
        continue;
      }
      if (marker === 0x01 || (marker >= 0xd0 && marker <= 0xd8)) {
        i += 2;
        continue;
      }
      if (SOF.has(marker)) return { height: buf.readUInt16BE(i + 5), width: buf.readUInt16BE(i + 7) };
      i += 2 + buf.readUInt16BE(i + 2);
    }
    return undefined;
  }
  if (format === 'bmp') {
    if (n < 26) return undefined;
    if (buf.readUInt32LE(14) === 12) return { width: buf.readUInt16LE(18), height: buf.readUInt16LE(20) };
    return { width: Math.abs(buf.readInt32LE(18)), height: Math.abs(buf.readInt32LE(22)) };
  }
  // TIFF: the first image file directory's ImageWidth (256) and ImageLength (257) tags.
  const le = buf[0] === 0x49;
  const u16 = (o: number) => (le ? buf.readUInt16LE(o) : buf.readUInt16BE(o));
  const u32 = (o: number) => (le ? buf.readUInt32LE(o) : buf.readUInt32BE(o));
  if (n < 8) return undefined;
  const ifd = u32(4);
  if (ifd + 2 > n) return undefined;
  const entries = u16(ifd);
  let width: number | undefined;
  let height: number | undefined;
  for (let e = 0; e < entries && ifd + 2 + (e + 1) * 12 <= n; e++) {
    const at = ifd + 2 + e * 12;
    const tag = u16(at);
    const type = u16(at + 2);
    const value = type === 3 ? u16(at + 8) : type === 4 ? u32(at + 8) : undefined;
    if (tag === 256) width = value;
    if (tag === 257) height = value;
  }
  return width !== undefined && height !== undefined ? { width, height } : undefined;
}

export type ColorMode = 'rgb' | 'gray';

export interface DecodeLimits {
  /** Largest width x height accepted (default DEFAULT_MAX_PIXELS). */
  maxPixels?: number;
}

/** Decodes PNG/JPEG/BMP/TIFF (8- or 16-bit; gray, RGB or RGBA) to 8-bit RGB or gray. */
export async function decodeImage(bytes: Uint8Array, source: string, mode: ColorMode = 'rgb', limits: DecodeLimits = {}): Promise<Image8> {
  if (bytes.length === 0) throw new ImageDecodeError(source, 'empty file (0 bytes)', true);
  const format = sniff(bytes);
  if (!format) throw new ImageDecodeError(source, 'not an image: unrecognised format (supported: PNG, JPEG, BMP, TIFF)');
  const declared = declaredSize(format, bytes);
  if (!declared)
    throw new ImageDecodeError(
      source,
      `${format.toUpperCase()} header does not state the image size (corrupt, or still being written)`,
      true,
    );
  const maxPixels = limits.maxPixels ?? DEFAULT_MAX_PIXELS;
  if (declared.width * declared.height > maxPixels) {
    throw new ImageDecodeError(
      source,
      `declares ${declared.width}x${declared.height} = ${declared.width * declared.height} pixels, more than the limit of ${maxPixels} (maxPixels); not decoded`,
    );
  }
  const cut = truncation(format, bytes);
  if (cut) throw new ImageDecodeError(source, cut, true);
  const cv = await loadOpenCV();
  return releasing(async (keep) => {
    let mat;
    try {
      mat = keep(await cv.imdecodeAsync(Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength), cv.IMREAD_UNCHANGED));
    } catch (e) {
      throw new ImageDecodeError(source, `cannot decode ${format.toUpperCase()}: ${(e as Error).message}`);
    }
    if (mat.empty || mat.rows === 0 || mat.cols === 0)
      throw new ImageDecodeError(source, `cannot decode ${format.toUpperCase()} (corrupt or zero-size image)`);
    if (mat.depth === cv.CV_16U) {
      // Full-range scaling keeps 12/16-bit sensor images usable; Pillow's convert("RGB") would clip them.
      mat = keep(await mat.convertToAsync(cv.CV_8U, 1 / 257));
    } else if (mat.depth !== cv.CV_8U) {
      throw new ImageDecodeError(source, `unsupported bit depth (OpenCV depth code ${mat.depth}); use 8- or 16-bit unsigned images`);
    }
    const ch = mat.channels;
    if (mode === 'gray') {
      if (ch === 3) mat = keep(await mat.cvtColorAsync(cv.COLOR_BGR2GRAY));
      else if (ch === 4) mat = keep(await mat.cvtColorAsync(cv.COLOR_BGRA2GRAY));
      else if (ch !== 1) throw new ImageDecodeError(source, `unsupported channel count ${ch}`);
    } else if (ch === 1) {
      mat = keep(await mat.cvtColorAsync(cv.COLOR_GRAY2RGB));
    } else if (ch === 3) {
      mat = keep(await mat.cvtColorAsync(cv.COLOR_BGR2RGB));
    } else if (ch === 4) {
      mat = keep(await mat.cvtColorAsync(cv.COLOR_BGRA2RGB));
    } else {
      throw new ImageDecodeError(source, `unsupported channel count ${ch}`);
    }
    const data = new Uint8Array(mat.getData());
    return { width: mat.cols, height: mat.rows, channels: mode === 'gray' ? 1 : 3, data };
  });
}

export interface ReadLimits extends DecodeLimits {
  /** Largest file read (default DEFAULT_MAX_FILE_BYTES). */
  maxBytes?: number;
  /** Gives up on a read that takes longer (a stalled network mount). */
  timeoutMs?: number;
}

/**
 * Reads an image file: regular files only (a FIFO or a device is refused without blocking on
 * it), at most `maxBytes`, abandoned after `timeoutMs`.
 */
export async function readImageFile(path: string, limits: ReadLimits = {}): Promise<Uint8Array> {
  const maxBytes = limits.maxBytes ?? DEFAULT_MAX_FILE_BYTES;
  try {
    const fh = await open(path, constants.O_RDONLY | constants.O_NONBLOCK);
    try {
      const st = await fh.stat();
      if (!st.isFile()) throw new ImageDecodeError(path, 'not a regular file (a FIFO, device or folder); skipped');
      if (st.size > maxBytes)
        throw new ImageDecodeError(path, `${st.size} bytes is more than the limit of ${maxBytes} bytes (maxFileMb); not read`);
      return await fh.readFile(limits.timeoutMs ? { signal: AbortSignal.timeout(limits.timeoutMs) } : {});
    } finally {
      await fh.close();
    }
  } catch (e) {
    if (e instanceof ImageDecodeError) throw e;
    const code = (e as NodeJS.ErrnoException).code;
    if ((e as Error).name === 'AbortError' || (e as Error).name === 'TimeoutError')
      throw new ImageDecodeError(path, `read did not finish within ${limits.timeoutMs} ms`, true);
    throw new ImageDecodeError(
      path,
      `cannot read: ${code ?? (e as Error).message}`,
      code === 'ENOENT' || code === 'EAGAIN' || code === 'EBUSY',
    );
  }
}

export async function readImage(path: string, mode: ColorMode = 'rgb', limits: ReadLimits = {}): Promise<Image8> {
  return decodeImage(await readImageFile(path, limits), path, mode, limits);
}
