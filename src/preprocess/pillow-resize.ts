// Bit-exact port of Pillow's antialiased BILINEAR resize for 8-bit images (Pillow 9.x,
// libImaging/Resample.c). The reference preprocessing (torchvision Resize on PIL images) runs
// through it, and OpenCV's INTER_LINEAR/INTER_AREA give different pixels, so patchline carries
// its own copy of the arithmetic: float64 triangle weights, 22-bit fixed point, horizontal pass
// first, uint8 intermediate.
import type { Image8 } from '../core/image.js';

const PRECISION_BITS = 32 - 8 - 2;
const HALF = 1 << (PRECISION_BITS - 1);

interface Coefficients {
  /** Filter taps per output sample (padded with zeros). */
  ksize: number;
  /** [outSize*2]: first input index and tap count per output sample. */
  bounds: Int32Array;
  /** [outSize*ksize]: fixed-point weights. */
  weights: Int32Array;
}

function bilinearFilter(x: number): number {
  const a = Math.abs(x);
  return a < 1 ? 1 - a : 0;
}

/** Mirrors precompute_coeffs + normalize_coeffs_8bpc. */
function coefficients(inSize: number, outSize: number): Coefficients {
  const scale = inSize / outSize;
  const filterscale = Math.max(scale, 1);
  const support = 1 * filterscale;
  const ksize = Math.ceil(support) * 2 + 1;
  const bounds = new Int32Array(outSize * 2);
  const weights = new Int32Array(outSize * ksize);
  const k = new Float64Array(ksize);
  for (let xx = 0; xx < outSize; xx++) {
    const center = (xx + 0.5) * scale;
    const ss = 1 / filterscale;
    // C's (int) cast truncates toward zero.
    let xmin = Math.trunc(center - support + 0.5);
    if (xmin < 0) xmin = 0;
    let xmax = Math.trunc(center + support + 0.5);
    if (xmax > inSize) xmax = inSize;
    xmax -= xmin;
    let ww = 0;
    for (let x = 0; x < xmax; x++) {
      const w = bilinearFilter((x + xmin - center + 0.5) * ss);
      k[x] = w;
      ww += w;
    }
    for (let x = 0; x < ksize; x++) {
      const w = x < xmax ? (ww !== 0 ? k[x]! / ww : k[x]!) : 0;
      const scaled = w * (1 << PRECISION_BITS);
      weights[xx * ksize + x] = w < 0 ? Math.trunc(-0.5 + scaled) : Math.trunc(0.5 + scaled);
    }
    bounds[xx * 2] = xmin;
    bounds[xx * 2 + 1] = xmax;
  }
  return { ksize, bounds, weights };
}

function clip8(v: number): number {
  if (v >= (1 << PRECISION_BITS) << 8) return 255;
  if (v <= 0) return 0;
  return v >> PRECISION_BITS;
}

/**
 * Resizes an interleaved 8-bit image like `PIL.Image.resize(size, Image.BILINEAR)`.
 * Returns the input unchanged when the size already matches (as Pillow and torchvision do).
 */
export function resizeBilinearPillow(src: Image8, outWidth: number, outHeight: number): Image8 {
  if (outWidth <= 0 || outHeight <= 0) throw new RangeError(`resize target must be positive, got ${outWidth}x${outHeight}`);
  if (src.width === outWidth && src.height === outHeight) return src;
  const ch = src.channels;
  const horiz = coefficients(src.width, outWidth);
  const vert = coefficients(src.height, outHeight);
  const needH = outWidth !== src.width;
  const needV = outHeight !== src.height;

  let stage: Image8 = src;
  let rowOffset = 0;
  const vertBounds = Int32Array.from(vert.bounds);
  if (needH) {
    // Only the source rows the vertical pass reads are resampled horizontally.
    const yFirst = vert.bounds[0]!;
    const yLast = vert.bounds[outHeight * 2 - 2]! + vert.bounds[outHeight * 2 - 1]!;
    const rows = needV ? yLast - yFirst : src.height;
    rowOffset = needV ? yFirst : 0;
    if (needV) for (let i = 0; i < outHeight; i++) vertBounds[i * 2] = vertBounds[i * 2]! - yFirst;
    const out = new Uint8Array(outWidth * rows * ch);
    const { ksize, bounds, weights } = horiz;
    const sd = src.data;
    // Sums are exact integers (< 2^31), so the order taps and channels are visited in does not
    // change a bit.
    for (let y = 0; y < rows; y++) {
      const inRow = (y + rowOffset) * src.width * ch;
      const outRow = y * outWidth * ch;
      for (let xx = 0; xx < outWidth; xx++) {
        const xmin = bounds[xx * 2]!;
        const xmax = bounds[xx * 2 + 1]!;
        const kb = xx * ksize;
        for (let c0 = 0; c0 < ch; c0 += 3) {
          // Up to three channels per sweep over the taps (RGB in one).
          let s0 = HALF;
          let s1 = HALF;
          let s2 = HALF;
          let at = inRow + xmin * ch + c0;
          for (let x = 0; x < xmax; x++) {
            const w = weights[kb + x]!;
            s0 += sd[at]! * w;
            if (c0 + 1 < ch) s1 += sd[at + 1]! * w;
            if (c0 + 2 < ch) s2 += sd[at + 2]! * w;
            at += ch;
          }
          const o = outRow + xx * ch + c0;
          out[o] = clip8(s0);
          if (c0 + 1 < ch) out[o + 1] = clip8(s1);
          if (c0 + 2 < ch) out[o + 2] = clip8(s2);
        }
      }
    }
    stage = { width: outWidth, height: rows, channels: ch, data: out };
  }
  if (!needV) return stage;
  const out = new Uint8Array(outWidth * outHeight * ch);
  const { ksize, weights } = vert;
  const sd = stage.data;
  const rowStride = stage.width * ch;
  const acc = new Int32Array(rowStride);
  for (let yy = 0; yy < outHeight; yy++) {
    const ymin = vertBounds[yy * 2]!;
    const ymax = vertBounds[yy * 2 + 1]!;
    const kb = yy * ksize;
    acc.fill(HALF);
    for (let y = 0; y < ymax; y++) {
      const w = weights[kb + y]!;
      const row = (y + ymin) * rowStride;
      for (let i = 0; i < rowStride; i++) acc[i]! += sd[row + i]! * w;
    }
    const outRow = yy * rowStride;
    for (let i = 0; i < rowStride; i++) out[outRow + i] = clip8(acc[i]!);
  }
  return { width: outWidth, height: outHeight, channels: ch, data: out };
}
