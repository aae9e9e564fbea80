// The bounded exact kNN (lower-bound pass + exact candidates + full product for the rest) must
// return what the full product returns: same rows, same distances to float32 rounding.
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { readNpyFloat32 } from '../src/io/npy.js';
import { InferenceRuntime } from '../src/model/inference-runtime.js';
import {
  BOUND_DIMS,
  boundApplies,
  boundProjection,
  fittedBoundProjection,
  MIN_CAPTURED,
  WIDE_BOUND_DIMS,
  WIDE_BOUND_MIN_ROWS,
} from '../src/patchcore/knn-bound.js';
import { KnnScorer, type ScorerOptions } from '../src/patchcore/scorer.js';
import { seededRandom } from '../src/core/random.js';
import { sharedPath } from './helpers/shared.js';

/** Rows near a few low-rank clusters: the structure PatchCore embeddings have. */
function clustered(rows: number, dim: number, seed: number): Float32Array {
  const rand = seededRandom(seed);
  const gauss = () => Math.sqrt(-2 * Math.log(rand() + 1e-12)) * Math.cos(2 * Math.PI * rand());
  const rank = 12;
  const mix = Float32Array.from({ length: rank * dim }, gauss);
  const centres = Array.from({ length: 6 }, () => Float32Array.from({ length: rank }, () => 4 * gauss()));
  const out = new Float32Array(rows * dim);
  for (let r = 0; r < rows; r++) {
    const c = centres[r % centres.length]!;
    const latent = Array.from({ length: rank }, (_, i) => c[i]! + gauss());
    for (let d = 0; d < dim; d++) {
      let v = 0.05 * gauss();
      for (let i = 0; i < rank; i++) v += latent[i]! * mix[i * dim + d]!;
      out[r * dim + d] = v;
    }
  }
  return out;
}

/** Rows whose variance spreads over 400 directions (as MobileNetV2's banks): the first 64 hold about 0.7 of it, 256 about 0.95. */
function spread(rows: number, dim: number, seed: number): Float32Array {
  const normal = (rand: () => number) => () => Math.sqrt(-2 * Math.log(rand() + 1e-12)) * Math.cos(2 * Math.PI * rand());
  const rank = 400;
  // One set of directions for every call; `seed` draws the rows.
  const mix = Float32Array.from({ length: rank * dim }, normal(seededRandom(99)));
  const gauss = normal(seededRandom(seed));
  const out = new Float32Array(rows * dim);
  const latent = new Float32Array(rank);
  for (let r = 0; r < rows; r++) {
    for (let i = 0; i < rank; i++) latent[i] = gauss() / (1 + i / 40);
    for (let d = 0; d < dim; d++) {
      let v = 3 + 0.02 * gauss();
      for (let i = 0; i < rank; i++) v += latent[i]! * mix[i * dim + d]!;
      out[r * dim + d] = v;
    }
  }
  return out;
}

async function compareForms(
  runtime: InferenceRuntime,
  bank: Float32Array,
  queries: Float32Array,
  dim: number,
  k: number,
  bounded: ScorerOptions,
) {
  const full = await KnnScorer.create(runtime, bank, dim, k, 'full', { form: 'full' });
  const fast = await KnnScorer.create(runtime, bank, dim, k, 'bounded', { ...bounded, form: 'bounded' });
  const a = await full.score(queries.slice());
  const b = await fast.score(queries.slice());
  await full.release();
  await fast.release();
  let maxNorm = 0;
  for (let r = 0; r < bank.length / dim; r++) {
    let s = 0;
    for (let d = 0; d < dim; d++) s += bank[r * dim + d]! ** 2;
    maxNorm = Math.max(maxNorm, s);
  }
  let differentRows = 0;
  for (let i = 0; i < a.indices.length; i++) {
    if (a.indices[i] !== b.indices[i]) differentRows++;
    // Float32 rounding of |q|^2 + |x|^2 - 2 q.x, at the scale of the norms.
    assert.ok(
      Math.abs(a.distances[i]! - b.distances[i]!) <= 1e-5 * maxNorm + 1e-4 * a.distances[i]!,
      `distance ${i}: full ${a.distances[i]} vs bounded ${b.distances[i]}`,
    );
  }
  assert.equal(differentRows, 0, `${differentRows} of ${a.indices.length} neighbours differ`);
  return { open: b.open!, queries: queries.length / dim };
}

describe('bounded exact kNN', () => {
  let runtime: InferenceRuntime;
  before(() => {
    runtime = new InferenceRuntime({ intraOpThreads: 2 });
  });
  after(() => runtime.close());

  test('the bound never exceeds the true distance', async () => {
    const dim = 256;
    const bank = clustered(1500, dim, 7);
    const p = await boundProjection(runtime, bank, dim, 16, 'bound-check');
    const w = p.dims + 1;
    let violations = 0;
    for (let i = 0; i < 200; i++) {
      const j = (i * 37 + 11) % 1500;
      let d2 = 0;
      let lb = 0;
      for (let d = 0; d < dim; d++) d2 += (bank[i * dim + d]! - bank[j * dim + d]!) ** 2;
      for (let d = 0; d < w; d++) lb += (p.bankBound[i * w + d]! - p.bankBound[j * w + d]!) ** 2;
      if (lb > d2 * (1 + 1e-5) + 1e-3) violations++;
    }
    assert.equal(violations, 0);
  });

  for (const k of [1, 3]) {
    test(`clustered bank, k=${k}: same neighbours as the full product, most queries settled by the bound`, async () => {
      const dim = 256;
      const bank = clustered(3000, dim, 1);
      const queries = clustered(400, dim, 2);
      const { open, queries: n } = await compareForms(runtime, bank, queries, dim, k, {});
      assert.ok(open < n / 2, `${open} of ${n} queries needed the full product`);
    });
  }

  test('with one candidate and small blocks, many queries take the full product and still agree', async () => {
    const dim = 256;
    const bank = clustered(2000, dim, 3);
    const queries = clustered(300, dim, 4);
    const { open, queries: n } = await compareForms(runtime, bank, queries, dim, 1, { candidates: 1, block: 700 });
    assert.ok(open > 0 && open < n, `${open} of ${n} queries opened: both paths must run`);
  });

  test('PatchCore embeddings (reference head fixture): same neighbours', async (t) => {
    const dir = sharedPath(t, 'fixtures', 'reference', 'head', 'a_wrn50_like');
    if (!dir) return;
    const e = readNpyFloat32(join(dir, 'embedding.npy')).data;
    const dim = 1024;
    const bank = e.slice(0, 1200 * dim);
    const queries = e.slice(1200 * dim);
    for (const k of [1, 3]) await compareForms(runtime, bank, queries, dim, k, {});
  });

  test('a bank too spread for 64 directions gets the wide bound: same neighbours as the full product, most queries settled', async () => {
    const dim = 1024;
    const bank = spread(WIDE_BOUND_MIN_ROWS, dim, 5);
    const narrow = await boundProjection(runtime, bank, dim, BOUND_DIMS, 'bound-narrow');
    assert.ok(narrow.captured < MIN_CAPTURED, `64 directions capture ${narrow.captured}`);
    const p = await fittedBoundProjection(runtime, bank, dim, 'bound-fitted');
    assert.equal(p.dims, WIDE_BOUND_DIMS);
    assert.ok(p.captured >= MIN_CAPTURED, `${WIDE_BOUND_DIMS} directions capture ${p.captured}`);
    // Queries: other rows of the same distribution (the nearest row is not the query itself).
    const { open, queries: n } = await compareForms(runtime, bank, spread(200, dim, 6), dim, 1, {});
    assert.ok(open < n / 2, `${open} of ${n} queries needed the full product`);
    // A shorter bank of the same spread keeps the narrow projection (the scorer then takes the full product).
    const short = await fittedBoundProjection(runtime, bank.subarray(0, (WIDE_BOUND_MIN_ROWS - 1) * dim), dim, 'bound-short');
    assert.equal(short.dims, BOUND_DIMS);
  });

  test('applies to large, wide banks only', () => {
    assert.equal(boundApplies(15680, 1024), true);
    assert.equal(boundApplies(500, 1024), false);
    assert.equal(boundApplies(15680, 128), false);
  });
});
