// Detection and segmentation metrics of `patchline eval` (reference: patchcore/metrics.py,
// sklearn's roc_auc_score; AUPRO as in the MVTec AD evaluation). Pure functions on typed arrays.

/**
 * ROC AUC with ties counted 1/2 (the Mann-Whitney statistic, equal to sklearn's
 * roc_auc_score). Positives and negatives are sorted separately with native typed-array sorts,
 * so tens of millions of pixels take seconds.
 */
export function aurocSplit(positives: Float32Array | Float64Array, negatives: Float32Array | Float64Array): number {
  if (positives.length === 0 || negatives.length === 0) return NaN;
  // Copies of the same type: float32 pixel scores sort natively without doubling memory.
  const pos = positives.slice().sort();
  const neg = negatives.slice().sort();
  // For each positive: negatives strictly below + half the equal ones.
  let below = 0;
  let equalEnd = 0;
  let wins = 0;
  for (let i = 0; i < pos.length; i++) {
    const v = pos[i]!;
    while (below < neg.length && neg[below]! < v) below++;
    if (equalEnd < below) equalEnd = below;
    while (equalEnd < neg.length && neg[equalEnd]! === v) equalEnd++;
    wins += below + (equalEnd - below) / 2;
  }
  return wins / (pos.length * neg.length);
}

export function auroc(scores: ArrayLike<number>, labels: ArrayLike<number>): number {
  let p = 0;
  for (let i = 0; i < labels.length; i++) if (labels[i]) p++;
  const pos = new Float64Array(p);
  const neg = new Float64Array(labels.length - p);
  let a = 0;
  let b = 0;
  for (let i = 0; i < labels.length; i++) {
    if (labels[i]) pos[a++] = scores[i]!;
    else neg[b++] = scores[i]!;
  }
  return aurocSplit(pos, neg);
}

/**
 * Accumulates anomaly maps and ground-truth regions for the per-region overlap (PRO) curve.
 * Scores are binned finely (2^20 bins over the observed range) so memory does not grow with
 * the number of pixels; the curve is exact up to the bin width.
 */
export class ProAccumulator {
  private readonly bins = 1 << 20;
  private readonly maps: { scores: Float32Array; regions: Int32Array; sizes: number[] }[] = [];
  private lo = Infinity;
  private hi = -Infinity;

  /** `regions`: 0 = normal pixel, r > 0 = connected defect region r of this image; sizes[r] = its pixel count. */
  add(scores: Float32Array, regions: Int32Array, sizes: number[]): void {
    for (let i = 0; i < scores.length; i++) {
      const v = scores[i]!;
      if (v < this.lo) this.lo = v;
      if (v > this.hi) this.hi = v;
    }
    this.maps.push({ scores, regions, sizes });
  }

  /** Normalised area under the PRO curve for FPR in [0, fprLimit]. */
  aupro(fprLimit = 0.3): number {
    const normalCount = new Float64Array(this.bins);
    const overlap = new Float64Array(this.bins);
    let normals = 0;
    let regionTotal = 0;
    const span = this.hi - this.lo || 1;
    for (const m of this.maps) {
      regionTotal += m.sizes.filter((s, i) => i > 0 && s > 0).length;
      for (let i = 0; i < m.scores.length; i++) {
        const b = Math.min(this.bins - 1, Math.floor(((m.scores[i]! - this.lo) / span) * this.bins));
        const r = m.regions[i]!;
        if (r === 0) {
          normalCount[b]!++;
          normals++;
        } else {
          overlap[b]! += 1 / m.sizes[r]!;
        }
      }
    }
    if (regionTotal === 0 || normals === 0) return NaN;
    // Sweep thresholds from high to low: FPR and mean region overlap grow.
    let fp = 0;
    let ov = 0;
    let prevFpr = 0;
    let prevPro = 0;
    let area = 0;
    for (let b = this.bins - 1; b >= 0; b--) {
      if (normalCount[b] === 0 && overlap[b] === 0) continue;
      fp += normalCount[b]!;
      ov += overlap[b]!;
      const fpr = fp / normals;
      const pro = ov / regionTotal;
      if (fpr >= fprLimit) {
        const t = fpr > prevFpr ? (fprLimit - prevFpr) / (fpr - prevFpr) : 0;
        const proAt = prevPro + t * (pro - prevPro);
        area += ((fprLimit - prevFpr) * (prevPro + proAt)) / 2;
        return area / fprLimit;
      }
      area += ((fpr - prevFpr) * (prevPro + pro)) / 2;
      prevFpr = fpr;
      prevPro = pro;
    }
    return area / fprLimit;
  }
}
