// Greedy coreset selection vs the reference samplers (fixtures coreset/ and coreset/proj/).
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { readNpy, readNpyFloat32 } from '../src/io/npy.js';
import { InferenceRuntime } from '../src/model/inference-runtime.js';
import { continueCoresetOfPoints, PROJECTION_DIM, selectCoreset } from '../src/patchcore/coreset.js';
import { seededRandom } from '../src/core/random.js';
import { sharedPath } from './helpers/shared.js';

function ints(path: string): number[] {
  return Array.from(readNpy(path).data as BigInt64Array, Number);
}

describe('greedy coreset vs reference', () => {
  let runtime: InferenceRuntime;
  before(() => {
    runtime = new InferenceRuntime({ intraOpThreads: 2 });
  });
  after(() => runtime.close());

  test('2000x128 (no projection): approximate and exact greedy pick the same 200 indices in order', async (t) => {
    const dir = sharedPath(t, 'fixtures', 'reference', 'coreset');
    if (!dir) return;
    const f = readNpyFloat32(join(dir, 'features_2000x128.npy'));
    const starts = ints(join(dir, 'approx_start_points.npy'));
    const approx = await selectCoreset(
      runtime,
      f.data,
      128,
      { method: 'approximate', percentage: 0.1, chunk: 64 },
      { startIndices: starts },
    );
    assert.deepEqual(Array.from(approx), ints(join(dir, 'approx_greedy_indices.npy')));
    const exact = await selectCoreset(runtime, f.data, 128, { method: 'greedy', percentage: 0.1 });
    assert.deepEqual(Array.from(exact), ints(join(dir, 'greedy_indices.npy')));
  });

  test('3000x1024 with the reference projection: same 300 indices in order', async (t) => {
    const dir = sharedPath(t, 'fixtures', 'reference', 'coreset', 'proj');
    if (!dir) return;
    const q = readNpy(join(dir, 'features_3000x1024_q8.npy'));
    const features = Float32Array.from(q.data as Int8Array, (v) => v / 8);
    const projection = readNpyFloat32(join(dir, 'projection_weight.npy')).data;
    const starts = ints(join(dir, 'approx_start_points.npy'));
    const approx = await selectCoreset(
      runtime,
      features,
      1024,
      { method: 'approximate', percentage: 0.1 },
      { projection, startIndices: starts },
    );
    assert.deepEqual(Array.from(approx), ints(join(dir, 'approx_greedy_indices.npy')));
    const exact = await selectCoreset(runtime, features, 1024, { method: 'greedy', percentage: 0.1 }, { projection });
    assert.deepEqual(Array.from(exact), ints(join(dir, 'greedy_indices.npy')));
  });

  test('seeded selection is deterministic and reports progress; identity keeps every row', async () => {
    const n = 500;
    const f = Float32Array.from({ length: n * 16 }, (_, i) => Math.sin(i * 0.37) + ((i * 7919) % 13) / 13);
    const seen: number[] = [];
    const a = await selectCoreset(runtime, f, 16, { method: 'approximate', percentage: 0.1, seed: 3, chunk: 20 }, {}, (done) =>
      seen.push(done),
    );
    const b = await selectCoreset(runtime, f, 16, { method: 'approximate', percentage: 0.1, seed: 3 });
    assert.deepEqual(Array.from(a), Array.from(b));
    assert.equal(a.length, 50);
    assert.equal(new Set(a).size, 50, 'greedy picks are distinct on distinct points');
    assert.deepEqual(seen, [20, 40, 50]);
    const all = await selectCoreset(runtime, f, 16, { method: 'identity', percentage: 1 });
    assert.equal(all.length, n);
  });

  test('continued greedy equals exact k-center greedy started from the bank rows (brute force, float64)', async () => {
    const rand = seededRandom(11);
    const gauss = () => Math.sqrt(-2 * Math.log(1 - rand())) * Math.cos(2 * Math.PI * rand());
    const d = PROJECTION_DIM;
    const n = 700;
    const m = 60;
    // New points: a shifted cluster beside the bank's, so the picks are far from the bank.
    const points = Float32Array.from({ length: n * d }, (_, i) => gauss() + (i % d === 0 && i / d > n / 2 ? 4 : 0));
    const bank = Float32Array.from({ length: m * d }, () => gauss());
    const count = 70;
    const dist = (a: Float32Array, i: number, b: Float32Array, j: number) => {
      let s = 0;
      for (let k = 0; k < d; k++) s += (a[i * d + k]! - b[j * d + k]!) ** 2;
      return Math.sqrt(s);
    };
    const expected: number[] = [];
    const nearest = Array.from({ length: n }, (_, i) => Math.min(...Array.from({ length: m }, (_, j) => dist(points, i, bank, j))));
    for (let step = 0; step < count; step++) {
      let best = 0;
      for (let i = 1; i < n; i++) if (nearest[i]! > nearest[best]!) best = i;
      expected.push(best);
      for (let i = 0; i < n; i++) nearest[i] = Math.min(nearest[i]!, dist(points, i, points, best));
    }
    const seen: number[] = [];
    const picks = await continueCoresetOfPoints(runtime, points, bank, count, { chunk: 32 }, (done) => seen.push(done));
    assert.deepEqual(Array.from(picks), expected);
    assert.deepEqual(seen, [32, 64, 70]);
    assert.ok(
      expected.slice(0, 10).every((i) => i > n / 2),
      'the first picks are the new cluster, farthest from the bank',
    );
    await assert.rejects(continueCoresetOfPoints(runtime, points, new Float32Array(0), 1), /at least one chosen row/);
  });
});
