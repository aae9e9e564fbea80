// kNN scoring (faiss IndexFlatL2 semantics) and anomaly maps vs the reference fixtures.
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { readNpy, readNpyFloat32 } from '../src/io/npy.js';
import { InferenceRuntime } from '../src/model/inference-runtime.js';
import { anomalyMap, gaussianKernel } from '../src/patchcore/anomaly-map.js';
import { KnnScorer } from '../src/patchcore/scorer.js';
import { assertClose, compareClose, perturbed } from './helpers/compare.js';
import { sharedPath } from './helpers/shared.js';

describe('kNN scorer vs faiss', () => {
  let runtime: InferenceRuntime;
  before(() => {
    runtime = new InferenceRuntime({ intraOpThreads: 2 });
  });
  after(() => runtime.close());

  for (const k of [1, 3, 5]) {
    test(`k=${k}: distances (atol 1e-4 + rtol 2e-6), indices and scores match`, async (t) => {
      const dir = sharedPath(t, 'fixtures', 'reference', 'scorer');
      if (!dir) return;
      const bank = readNpyFloat32(join(dir, 'bank.npy'));
      const queries = readNpyFloat32(join(dir, 'queries.npy'));
      for (const block of [undefined, 300]) {
        const scorer = await KnnScorer.create(runtime, bank.data, 64, k, `scorer-${k}`, { block });
        const r = await scorer.score(Float32Array.from(queries.data));
        const d = readNpyFloat32(join(dir, `k${k}_distances.npy`)).data;
        assertClose(r.distances, d, { atol: 1e-4, rtol: 2e-6 }, `k${k} distances (block ${block ?? 'all'})`);
        assert.deepEqual(Array.from(r.indices, Number), Array.from(readNpy(join(dir, `k${k}_indices.npy`)).data as BigInt64Array, Number));
        assertClose(r.scores, readNpyFloat32(join(dir, `k${k}_scores.npy`)).data, { atol: 1e-4, rtol: 2e-6 }, `k${k} scores`);
        assert.equal(
          compareClose(r.scores, perturbed(readNpyFloat32(join(dir, `k${k}_scores.npy`)).data, 3, 1e-3), { atol: 1e-4, rtol: 2e-6 }).ok,
          false,
        );
        await scorer.release();
      }
    });
  }
});

describe('anomaly maps', () => {
  test('reference patch scores -> segmentations are bitwise equal (bilinear 28->224, gaussian sigma 4)', (t) => {
    const dir = sharedPath(t, 'fixtures', 'reference', 'e2e');
    if (!dir) return;
    for (const nn of ['nn1', 'nn3']) {
      const patch = readNpyFloat32(join(dir, nn, 'patch_scores.npy'));
      const seg = readNpyFloat32(join(dir, nn, 'segmentations.npy'));
      let diffs = 0;
      for (let i = 0; i < 8; i++) {
        const m = anomalyMap(patch.data.subarray(i * 784, (i + 1) * 784), 28, 28, 224, 224);
        const want = seg.data.subarray(i * 224 * 224, (i + 1) * 224 * 224);
        for (let p = 0; p < m.length; p++) if (m[p] !== want[p]) diffs++;
      }
      assert.equal(diffs, 0, `${nn}: ${diffs} pixels differ`);
    }
  });

  test('gaussian kernel: radius int(4*sigma+0.5), normalised, symmetric', () => {
    const k = gaussianKernel(4);
    assert.equal(k.length, 33);
    assert.ok(Math.abs(k.reduce((a, b) => a + b, 0) - 1) < 1e-15);
    assert.equal(k[0], k[32]);
  });
});
