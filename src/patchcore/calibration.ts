// Threshold calibration of a fitted bank: a quantile of held-out good images' scores, or the
// F1-optimal threshold on a labelled validation folder. Pure functions on plain arrays.

/** F1 of predictions `score >= threshold`. */
export function f1AtThreshold(
  scores: ArrayLike<number>,
  labels: ArrayLike<number>,
  threshold: number,
): { f1: number; precision: number; recall: number; tp: number; fp: number; fn: number; tn: number } {
  let tp = 0;
  let fp = 0;
  let fn = 0;
  let tn = 0;
  for (let i = 0; i < scores.length; i++) {
    const pred = scores[i]! >= threshold;
    if (labels[i]) pred ? tp++ : fn++;
    else pred ? fp++ : tn++;
  }
  const precision = tp + fp > 0 ? tp / (tp + fp) : 0;
  const recall = tp + fn > 0 ? tp / (tp + fn) : 0;
  const f1 = precision + recall > 0 ? (2 * precision * recall) / (precision + recall) : 0;
  return { f1, precision, recall, tp, fp, fn, tn };
}

/** Threshold with the best F1 among the observed scores (ties: the lowest such threshold). */
export function f1OptimalThreshold(scores: ArrayLike<number>, labels: ArrayLike<number>): { threshold: number; f1: number } {
  const candidates = Float64Array.from(scores).sort();
  let best = { threshold: candidates[0] ?? 0, f1: -1 };
  for (const t of new Set(candidates)) {
    const f1 = f1AtThreshold(scores, labels, t).f1;
    if (f1 > best.f1) best = { threshold: t, f1 };
  }
  return best;
}

/** Linear-interpolated quantile (numpy's default method) of a sample. */
export function quantile(values: ArrayLike<number>, q: number): number {
  const s = Float64Array.from(values).sort();
  if (s.length === 0) return NaN;
  const pos = q * (s.length - 1);
  const lo = Math.floor(pos);
  const hi = Math.min(lo + 1, s.length - 1);
  return s[lo]! + (s[hi]! - s[lo]!) * (pos - lo);
}
