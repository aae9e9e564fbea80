// Patch scores -> anomaly map (reference: RescaleSegmentor with smoothing 4): bilinear resize
// (align_corners=False) of the patch grid to the input size, then scipy.ndimage.gaussian_filter
// (sigma 4, truncate 4.0, mode 'reflect'), rows first, each pass stored as float32. The
// arithmetic mirrors torch's and scipy's so maps are bitwise equal to the reference's.
import { bilinearTaps } from './bilinear.js';

/** [h, w] -> [outH, outW], evaluated in float64 with float32 weights, rounded once. */
export function resizeBilinear(src: Float32Array, h: number, w: number, outH: number, outW: number): Float32Array {
  const ty = bilinearTaps(h, outH);
  const tx = bilinearTaps(w, outW);
  const out = new Float32Array(outH * outW);
  for (let y = 0; y < outH; y++) {
    const r0 = ty.i0[y]! * w;
    const r1 = ty.i1[y]! * w;
    const h0 = ty.w0[y]!;
    const h1 = ty.w1[y]!;
    for (let x = 0; x < outW; x++) {
      const c0 = tx.i0[x]!;
      const c1 = tx.i1[x]!;
      const a = tx.w0[x]!;
      const b = tx.w1[x]!;
      out[y * outW + x] = h0 * (a * src[r0 + c0]! + b * src[r0 + c1]!) + h1 * (a * src[r1 + c0]! + b * src[r1 + c1]!);
    }
  }
  return out;
}

/** numpy's pairwise sum for short arrays (8 partial sums, then the tail), for identical weights. */
function numpySum(a: Float64Array): number {
  const n = a.length;
  if (n < 8) {
    let s = 0;
    for (let i = 0; i < n; i++) s += a[i]!;
    return s;
  }
  const r = Array.from(a.subarray(0, 8));
  let i = 8;
  for (; i < n - (n % 8); i += 8) for (let j = 0; j < 8; j++) r[j]! += a[i + j]!;
  let s = r[0]! + r[1]! + (r[2]! + r[3]!) + (r[4]! + r[5]! + (r[6]! + r[7]!));
  for (; i < n; i++) s += a[i]!;
  return s;
}

/** scipy's Gaussian kernel: radius int(truncate*sigma + 0.5), exp(-x^2 / (2 sigma^2)) / sum. */
export function gaussianKernel(sigma: number, truncate = 4): Float64Array {
  const radius = Math.trunc(truncate * sigma + 0.5);
  const k = new Float64Array(2 * radius + 1);
  const c = -0.5 / (sigma * sigma);
  for (let x = -radius; x <= radius; x++) k[x + radius] = Math.exp(c * x * x);
  const s = numpySum(k);
  for (let i = 0; i < k.length; i++) k[i] = k[i]! / s;
  return k;
}

/** scipy 'reflect' (d c b a | a b c d | d c b a) index for any offset. */
export function reflect(i: number, n: number): number {
  const period = 2 * n;
  let m = ((i % period) + period) % period;
  if (m >= n) m = period - 1 - m;
  return m;
}

/**
 * One pass of scipy's correlate1d with a symmetric kernel along rows or columns: centre, then
 * (left + right) pairs, in float64, rounded to float32 once. Both axes walk memory row by row
 * (the column pass keeps a row of accumulators), with the same per-pixel operation order.
 */
function blurAxis(src: Float32Array, h: number, w: number, kernel: Float64Array, axis: 0 | 1): Float32Array {
  const r = (kernel.length - 1) / 2;
  const out = new Float32Array(h * w);
  const centre = kernel[r]!;
  if (axis === 0) {
    const acc = new Float64Array(w);
    for (let i = 0; i < h; i++) {
      const row = i * w;
      for (let x = 0; x < w; x++) acc[x] = src[row + x]! * centre;
      for (let k = 1; k <= r; k++) {
        const below = reflect(i + k, h) * w;
        const above = reflect(i - k, h) * w;
        const kv = kernel[r + k]!;
        for (let x = 0; x < w; x++) acc[x]! += (src[below + x]! + src[above + x]!) * kv;
      }
      out.set(acc, row);
    }
    return out;
  }
  const line = new Float64Array(w + 2 * r);
  for (let l = 0; l < h; l++) {
    for (let i = -r; i < w + r; i++) line[i + r] = src[l * w + reflect(i, w)]!;
    for (let i = 0; i < w; i++) {
      const c = i + r;
      let acc = line[c]! * centre;
      for (let k = 1; k <= r; k++) acc += (line[c + k]! + line[c - k]!) * kernel[r + k]!;
      out[l * w + i] = acc;
    }
  }
  return out;
}

export function gaussianFilter(map: Float32Array, h: number, w: number, sigma: number): Float32Array {
  if (sigma <= 0) return map;
  const k = gaussianKernel(sigma);
  return blurAxis(blurAxis(map, h, w, k, 0), h, w, k, 1);
}

/** Patch scores of one image [gh, gw] -> smoothed anomaly map [outH, outW]. */
export function anomalyMap(patchScores: Float32Array, gh: number, gw: number, outH: number, outW: number, sigma = 4): Float32Array {
  return gaussianFilter(resizeBilinear(patchScores, gh, gw, outH, outW), outH, outW, sigma);
}
