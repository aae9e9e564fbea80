// Raw anomaly maps on the heat-map topic as float16: half the bytes of float32, and more
// precision than a heat map needs.

/** IEEE 754 half precision, little-endian, round to nearest even. */
export function toFloat16(values: Float32Array): Uint8Array {
  const out = new Uint8Array(values.length * 2);
  const f = new Float32Array(1);
  const u = new Uint32Array(f.buffer);
  for (let i = 0; i < values.length; i++) {
    f[0] = values[i]!;
    const x = u[0]!;
    const sign = (x >>> 16) & 0x8000;
    let exp = ((x >>> 23) & 0xff) - 127 + 15;
    let mant = x & 0x7fffff;
    let h: number;
    if (((x >>> 23) & 0xff) === 0xff) h = sign | 0x7c00 | (mant ? 0x200 : 0);
    else if (exp >= 31) h = sign | 0x7c00;
    else if (exp <= 0) {
      if (exp < -10) h = sign;
      else {
        mant |= 0x800000;
        const shift = 14 - exp;
        let m = mant >>> shift;
        const rem = mant & ((1 << shift) - 1);
        const half = 1 << (shift - 1);
        if (rem > half || (rem === half && m & 1)) m++;
        h = sign | m;
      }
    } else {
      let m = mant >>> 13;
      const rem = mant & 0x1fff;
      if (rem > 0x1000 || (rem === 0x1000 && m & 1)) {
        m++;
        if (m === 0x400) {
          m = 0;
          exp++;
        }
      }
      h = exp >= 31 ? sign | 0x7c00 : sign | (exp << 10) | m;
    }
    out[i * 2] = h & 0xff;
    out[i * 2 + 1] = h >>> 8;
  }
  return out;
}
