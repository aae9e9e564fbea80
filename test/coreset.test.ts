// Greedy coreset selection vs the reference samplers (fixtures coreset/ and coreset/proj/).
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { readNpy, readNpyFloat32 } from '../src/io/npy.js';
import { InferenceRuntime } from '../src/model/inference-runtime.js';
import { selectCoreset } from '../src/patchcore/coreset.js';
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
});
