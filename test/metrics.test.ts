// Metrics on cases with known answers (sklearn semantics, MVTec AUPRO definition).
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { labelRegions } from '../src/imaging/connected-regions.js';
import { auroc, ProAccumulator } from '../src/eval/auc.js';
import { f1AtThreshold, f1OptimalThreshold, quantile } from '../src/patchcore/calibration.js';
import { normalizeScore } from '../src/patchcore/patchcore.js';

describe('metrics', () => {
  test('AUROC counts ties as 1/2 like sklearn', () => {
    assert.equal(auroc([0.1, 0.4, 0.35, 0.8], [0, 0, 1, 1]), 0.75);
    assert.equal(auroc([1, 1, 1, 1], [0, 1, 0, 1]), 0.5);
    assert.equal(auroc([3, 2, 1], [1, 0, 0]), 1);
    assert.ok(Number.isNaN(auroc([1, 2], [0, 0])));
  });

  test('F1 at a threshold and the F1-optimal threshold', () => {
    const scores = [0.1, 0.2, 0.6, 0.7, 0.3, 0.9];
    const labels = [0, 0, 1, 1, 0, 1];
    assert.deepEqual(f1AtThreshold(scores, labels, 0.5), { f1: 1, precision: 1, recall: 1, tp: 3, fp: 0, fn: 0, tn: 3 });
    const best = f1OptimalThreshold(scores, labels);
    assert.equal(best.f1, 1);
    assert.equal(best.threshold, 0.6);
  });

  test('quantile interpolates linearly (numpy default)', () => {
    assert.equal(quantile([1, 2, 3, 4], 0.5), 2.5);
    assert.equal(quantile([5, 1, 3], 1), 5);
  });

  test('AUPRO: perfect maps give 1; a map that finds one of two regions gives the interpolated curve', () => {
    const w = 10;
    const mask = new Uint8Array(100);
    for (const p of [11, 12, 21, 22, 77, 78]) mask[p] = 1;
    const { labels, sizes } = labelRegions(mask, w, 10);
    assert.deepEqual(sizes, [0, 4, 2]);
    const perfect = new ProAccumulator();
    perfect.add(Float32Array.from(mask), labels, sizes);
    assert.ok(Math.abs(perfect.aupro(0.3) - 1) < 1e-6);
    const half = new ProAccumulator();
    const scores = Float32Array.from(mask, (v, i) => (v && i < 50 ? 1 : 0));
    half.add(scores, labels, sizes);
    // Region 1 is found at FPR 0 (PRO 0.5); region 2 only with every normal pixel (FPR 1, PRO 1).
    // The curve is linear in between: PRO(0.3) = 0.65, area 0.3 * (0.5 + 0.65) / 2, over 0.3 -> 0.575.
    assert.ok(Math.abs(half.aupro(0.3) - 0.575) < 1e-6, String(half.aupro(0.3)));
  });

  test('regions use 8-connectivity', () => {
    const m = Uint8Array.from([1, 0, 0, 0, 1, 0, 0, 0, 1]);
    assert.deepEqual(labelRegions(m, 3, 3).sizes, [0, 3]);
  });

  test('normalised score: 0 at 0, 0.5 at the threshold, towards 1 above', () => {
    assert.equal(normalizeScore(0, 10), 0);
    assert.equal(normalizeScore(10, 10), 0.5);
    assert.equal(normalizeScore(20, 10), 0.75);
    assert.ok(normalizeScore(100, 10) < 1 && normalizeScore(100, 10) > 0.999);
    assert.ok(normalizeScore(30, 10) > normalizeScore(20, 10));
  });
});
