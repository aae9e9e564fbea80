// Element-wise comparison with a report of the worst element, for parity tests.
export interface CloseReport {
  ok: boolean;
  maxAbs: number;
  worst: number;
  message: string;
}

type Numeric = ArrayLike<number>;

export function compareClose(actual: Numeric, expected: Numeric, tol: { atol?: number; rtol?: number }, label = 'array'): CloseReport {
  const atol = tol.atol ?? 0;
  const rtol = tol.rtol ?? 0;
  if (actual.length !== expected.length)
    return { ok: false, maxAbs: Infinity, worst: -1, message: `${label}: length ${actual.length} != expected ${expected.length}` };
  let maxAbs = 0;
  let worst = -1;
  let bad = 0;
  let firstBad = -1;
  for (let i = 0; i < actual.length; i++) {
    const a = actual[i]!;
    const e = expected[i]!;
    const d = Math.abs(a - e);
    if (!(d <= atol + rtol * Math.abs(e))) {
      bad++;
      if (firstBad < 0) firstBad = i;
    }
    if (d > maxAbs || Number.isNaN(d)) {
      maxAbs = Number.isNaN(d) ? Infinity : d;
      worst = i;
    }
  }
  const ok = bad === 0;
  const message =
    `${label}: ${bad}/${actual.length} outside atol ${atol} + rtol ${rtol}; max |diff| ${maxAbs.toExponential(3)} at ${worst}` +
    (firstBad >= 0 ? ` (first bad ${firstBad}: ${actual[firstBad]} vs ${expected[firstBad]})` : '');
  return { ok, maxAbs, worst, message };
}

export function assertClose(actual: Numeric, expected: Numeric, tol: { atol?: number; rtol?: number }, label?: string): CloseReport {
  const r = compareClose(actual, expected, tol, label);
  if (!r.ok) throw new Error(r.message);
  return r;
}

/** A copy of `a` with one element nudged by `delta`: a parity check must reject it. */
export function perturbed(a: Float32Array, index: number, delta: number): Float32Array {
  const p = Float32Array.from(a);
  p[index] = p[index]! + delta;
  return p;
}
