// torch's bilinear interpolation weights (align_corners=False), computed once in float32 like
// torch's CPU kernel: src = max(0, (dst + 0.5) * in/out - 0.5), neighbours floor(src) and
// min(floor + 1, in - 1). The head's alignment resize, the anomaly map's upsampling and the
// fused map graph all use these taps, so the three agree with the reference and with each other.

export interface BilinearTaps {
  /** [out] first and second source index (equal at the last source sample). */
  i0: Int32Array;
  i1: Int32Array;
  /** [out] float32 weights of i0 and i1. */
  w0: Float32Array;
  w1: Float32Array;
}

export function bilinearTaps(inSize: number, outSize: number): BilinearTaps {
  const f = Math.fround;
  const i0 = new Int32Array(outSize);
  const i1 = new Int32Array(outSize);
  const w0 = new Float32Array(outSize);
  const w1 = new Float32Array(outSize);
  const scale = f(inSize / outSize);
  for (let o = 0; o < outSize; o++) {
    const src = Math.max(0, f(f(scale * (o + 0.5)) - 0.5));
    const a = Math.floor(src);
    i0[o] = a;
    i1[o] = a < inSize - 1 ? a + 1 : a;
    w1[o] = f(src - a);
    w0[o] = f(1 - w1[o]!);
  }
  return { i0, i1, w0, w1 };
}

/** The taps as an [outSize, inSize] float32 matrix (weights of a shared neighbour summed in float32). */
export function bilinearMatrix(inSize: number, outSize: number): Float32Array {
  const f = Math.fround;
  const { i0, i1, w0, w1 } = bilinearTaps(inSize, outSize);
  const m = new Float32Array(outSize * inSize);
  for (let o = 0; o < outSize; o++) {
    m[o * inSize + i0[o]!] = f(m[o * inSize + i0[o]!]! + w0[o]!);
    m[o * inSize + i1[o]!] = f(m[o * inSize + i1[o]!]! + w1[o]!);
  }
  return m;
}
