// Image decoding at the edge of the pipeline: bytes -> OpenCV -> interleaved 8-bit RGB or gray.
// Every failure names the file, because a line of thousands of images must say which one broke.
import { readFile } from 'node:fs/promises';
import type { Image8 } from '../core/image.js';
import { loadOpenCV } from './opencv.js';

export class ImageDecodeError extends Error {
  constructor(
    readonly source: string,
    reason: string,
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

export type ColorMode = 'rgb' | 'gray';

/** Decodes PNG/JPEG/BMP/TIFF (8- or 16-bit; gray, RGB or RGBA) to 8-bit RGB or gray. */
export async function decodeImage(bytes: Uint8Array, source: string, mode: ColorMode = 'rgb'): Promise<Image8> {
  if (bytes.length === 0) throw new ImageDecodeError(source, 'empty file (0 bytes)');
  const format = sniff(bytes);
  if (!format) throw new ImageDecodeError(source, 'not an image: unrecognised format (supported: PNG, JPEG, BMP, TIFF)');
  const cut = truncation(format, bytes);
  if (cut) throw new ImageDecodeError(source, cut);
  const cv = await loadOpenCV();
  let mat;
  try {
    mat = cv.imdecode(Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength), cv.IMREAD_UNCHANGED);
  } catch (e) {
    throw new ImageDecodeError(source, `cannot decode ${format.toUpperCase()}: ${(e as Error).message}`);
  }
  if (mat.empty || mat.rows === 0 || mat.cols === 0)
    throw new ImageDecodeError(source, `cannot decode ${format.toUpperCase()} (corrupt or zero-size image)`);
  if (mat.depth === cv.CV_16U) {
    // Full-range scaling keeps 12/16-bit sensor images usable; Pillow's convert("RGB") would clip them.
    mat = mat.convertTo(cv.CV_8U, 1 / 257);
  } else if (mat.depth !== cv.CV_8U) {
    throw new ImageDecodeError(source, `unsupported bit depth (OpenCV depth code ${mat.depth}); use 8- or 16-bit unsigned images`);
  }
  const ch = mat.channels;
  if (mode === 'gray') {
    if (ch === 3) mat = mat.cvtColor(cv.COLOR_BGR2GRAY);
    else if (ch === 4) mat = mat.cvtColor(cv.COLOR_BGRA2GRAY);
    else if (ch !== 1) throw new ImageDecodeError(source, `unsupported channel count ${ch}`);
  } else if (ch === 1) {
    mat = mat.cvtColor(cv.COLOR_GRAY2RGB);
  } else if (ch === 3) {
    mat = mat.cvtColor(cv.COLOR_BGR2RGB);
  } else if (ch === 4) {
    mat = mat.cvtColor(cv.COLOR_BGRA2RGB);
  } else {
    throw new ImageDecodeError(source, `unsupported channel count ${ch}`);
  }
  const data = new Uint8Array(mat.getData());
  return { width: mat.cols, height: mat.rows, channels: mode === 'gray' ? 1 : 3, data };
}

export async function readImage(path: string, mode: ColorMode = 'rgb'): Promise<Image8> {
  let bytes: Buffer;
  try {
    bytes = await readFile(path);
  } catch (e) {
    throw new ImageDecodeError(path, `cannot read: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`);
  }
  return decodeImage(bytes, path, mode);
}
