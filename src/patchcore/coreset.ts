// Greedy coreset subsampling of the memory bank (reference: sampler.py,
// ApproximateGreedyCoresetSampler and GreedyCoresetSampler), run inside onnxruntime: the
// O(N x picks) distance updates are one ONNX Loop per chunk of picks, over the projected
// features held as a graph constant.
//
// Semantics (fixtures README items 24-30): project to 128 dims with a bias-free linear map
// unless D is already 128; Euclidean distance sqrt(clamp(-2ab + aa + bb, 0)) in float32; the
// approximate variant starts from the mean distance to 10 random start points, the exact one
// from the L2 norm of each point's row of the full distance matrix; then repeatedly pick the
// argmax (first on ties) and take the element-wise min with the distances to the pick.
import type { InferenceRuntime } from '../model/inference-runtime.js';
import { DataType, encodeModel, GraphBuilder, valueInfo } from '../model/onnx-graph.js';
import { asFloat, floatTensor, type Tensor } from '../model/tensor.js';
import { seededRandom } from '../synth/texture.js';

export const PROJECTION_DIM = 128;

export type CoresetMethod = 'approximate' | 'greedy' | 'identity';

export interface CoresetOptions {
  method: CoresetMethod;
  /** Share of rows kept: int(N * percentage). */
  percentage: number;
  /** Seed for the projection and the start points. */
  seed?: number;
  /** Start points of the approximate variant (default 10). */
  startPoints?: number;
  /** Picks per onnxruntime call; progress is reported between calls. */
  chunk?: number;
}

/** Values the reference draws from torch's and numpy's RNGs; given explicitly for parity tests. */
export interface CoresetRandomness {
  /** [128, D] projection weight (torch.nn.Linear layout). */
  projection?: Float32Array;
  /** Start point indices of the approximate variant. */
  startIndices?: number[];
}

/** torch.nn.Linear's default init U(-1/sqrt(D), 1/sqrt(D)), from a seeded PRNG. */
export function randomProjection(dim: number, seed: number): Float32Array {
  const rand = seededRandom(seed ^ 0x9e3779b9);
  const bound = 1 / Math.sqrt(dim);
  return Float32Array.from({ length: PROJECTION_DIM * dim }, () => (2 * rand() - 1) * bound);
}

/** k distinct indices in [0, n), seeded (partial Fisher-Yates). */
export function randomStartIndices(n: number, k: number, seed: number): number[] {
  const rand = seededRandom(seed);
  const pool = Int32Array.from({ length: n }, (_, i) => i);
  const out: number[] = [];
  for (let i = 0; i < Math.min(k, n); i++) {
    const j = i + Math.floor(rand() * (n - i));
    [pool[i], pool[j]] = [pool[j]!, pool[i]!];
    out.push(pool[i]!);
  }
  return out;
}

/** features [N, D] -> features W^T [N, 128], in chunks, inside onnxruntime. */
async function project(runtime: InferenceRuntime, features: Float32Array, dim: number, weight: Float32Array): Promise<Float32Array> {
  const n = features.length / dim;
  const g = new GraphBuilder();
  const wT = new Float32Array(dim * PROJECTION_DIM);
  for (let o = 0; o < PROJECTION_DIM; o++) for (let i = 0; i < dim; i++) wT[i * PROJECTION_DIM + o] = weight[o * dim + i]!;
  g.op('MatMul', ['x', g.floats('w', [dim, PROJECTION_DIM], wT)], {}, 'y');
  const session = 'coreset/project';
  await runtime.load(session, encodeModel(g.build({ name: 'projection', inputs: [valueInfo('x', DataType.FLOAT, ['n', dim])], outputs: [valueInfo('y', DataType.FLOAT, ['n', PROJECTION_DIM])] })));
  const out = new Float32Array(n * PROJECTION_DIM);
  const rows = 8192;
  for (let r = 0; r < n; r += rows) {
    const m = Math.min(rows, n - r);
    const res = await runtime.run(session, { x: floatTensor(features.slice(r * dim, (r + m) * dim), [m, dim]) });
    out.set(asFloat(res.y, 'y').data, r * PROJECTION_DIM);
  }
  await runtime.release(session);
  return out;
}

/** Distances d(p_i, q) = sqrt(clamp(-2 p_i.q + |p_i|^2 + |q|^2, 0)) as in _compute_batchwise_differences(P, q). */
function distancesTo(g: GraphBuilder, points: string, pointNorms: string, query: string): string {
  // query [M, 128] -> [N, M]
  const ab = g.op('MatMul', [points, g.op('Transpose', [query], { perm: [1, 0] })]);
  const qq = g.op('ReduceSumSquare', [query], { axes: [1], keepdims: 1 });
  const qqRow = g.op('Transpose', [qq], { perm: [1, 0] });
  const t = g.op('Add', [g.op('Add', [g.op('Mul', [ab, g.floats('minus_two', [], [-2])]), pointNorms]), qqRow]);
  return g.op('Sqrt', [g.op('Max', [t, g.floats('zero', [], [0])])]);
}

/**
 * Session `coreset/greedy` with inputs `trip` (int64) and `dist` [N], outputs `dist_out` [N]
 * and `picks` [trip]: `trip` greedy steps from the given per-point values. Also `init_mean`
 * (mean distance to query rows) and `init_norm` (row norms of the distance matrix for a block
 * of query rows) for the two variants' starting values.
 */
function greedyModel(points: Float32Array, n: number): Uint8Array {
  const g = new GraphBuilder();
  const P = g.floats('points', [n, PROJECTION_DIM], points);
  const norms = new Float32Array(n);
  for (let i = 0; i < n; i++) {
    let s = 0;
    for (let d = 0; d < PROJECTION_DIM; d++) s = Math.fround(s + Math.fround(points[i * PROJECTION_DIM + d]! * points[i * PROJECTION_DIM + d]!));
    norms[i] = s;
  }
  const aa = g.floats('point_norms', [n, 1], norms);

  const body = new GraphBuilder('body/');
  const pick = body.op('ArgMax', ['dist_in'], { axis: 0, keepdims: 1, select_last_index: 0 });
  const center = body.op('Gather', [P, pick], { axis: 0 });
  const d = body.op('Reshape', [distancesTo(body, P, aa, center), body.int64s('shape', [-1])]);
  body.op('Min', ['dist_in', d], {}, 'dist_next');
  body.op('Identity', ['cond_in'], {}, 'cond_out');
  body.op('Reshape', [pick, body.int64s('scalar', [])], {}, 'pick_out');
  const bodyGraph = body.subgraph(
    'greedy_step',
    [valueInfo('iter', DataType.INT64, []), valueInfo('cond_in', DataType.BOOL, []), valueInfo('dist_in', DataType.FLOAT, [n])],
    [valueInfo('cond_out', DataType.BOOL, []), valueInfo('dist_next', DataType.FLOAT, [n]), valueInfo('pick_out', DataType.INT64, [])],
  );
  g.opMulti('Loop', ['trip', g.bools('true', [true]), 'dist'], ['dist_out', 'picks'], { body: { graph: bodyGraph } });
  const q = 'query';
  g.op('ReduceMean', [distancesTo(g, P, aa, q)], { axes: [1], keepdims: 0 }, 'init_mean');
  const block = distancesTo(g, q, g.op('ReduceSumSquare', [q], { axes: [1], keepdims: 1 }), P);
  g.op('ReduceL2', [block], { axes: [1], keepdims: 0 }, 'init_norm');
  return encodeModel(
    g.build({
      name: 'greedy_coreset',
      inputs: [valueInfo('trip', DataType.INT64, []), valueInfo('dist', DataType.FLOAT, [n]), valueInfo(q, DataType.FLOAT, ['m', PROJECTION_DIM])],
      outputs: [valueInfo('dist_out', DataType.FLOAT, [n]), valueInfo('picks', DataType.INT64, ['trip']), valueInfo('init_mean', DataType.FLOAT, [n]), valueInfo('init_norm', DataType.FLOAT, ['m'])],
    }),
  );
}

function rows(points: Float32Array, indices: number[]): Float32Array {
  const out = new Float32Array(indices.length * PROJECTION_DIM);
  indices.forEach((r, i) => out.set(points.subarray(r * PROJECTION_DIM, (r + 1) * PROJECTION_DIM), i * PROJECTION_DIM));
  return out;
}

/**
 * Indices (selection order) of the coreset of `features` [N, dim]. `onProgress(done, total)`
 * is called after each chunk of picks.
 */
export async function selectCoreset(
  runtime: InferenceRuntime,
  features: Float32Array,
  dim: number,
  options: CoresetOptions,
  randomness: CoresetRandomness = {},
  onProgress?: (done: number, total: number) => void,
): Promise<Int32Array> {
  const n = features.length / dim;
  if (!Number.isInteger(n)) throw new RangeError(`features length ${features.length} is not a multiple of dim ${dim}`);
  if (!(options.percentage > 0 && options.percentage <= 1)) throw new RangeError(`coreset percentage must be in (0, 1], got ${options.percentage}`);
  if (options.method === 'identity') return Int32Array.from({ length: n }, (_, i) => i);
  const count = Math.floor(n * options.percentage);
  const seed = options.seed ?? 0;
  const points = dim === PROJECTION_DIM ? features : await project(runtime, features, dim, randomness.projection ?? randomProjection(dim, seed));
  const session = 'coreset/greedy';
  await runtime.load(session, greedyModel(points, n));
  const feeds = (trip: number, dist: Float32Array, query: Float32Array): Record<string, Tensor> => ({
    trip: { type: 'int64', data: BigInt64Array.of(BigInt(trip)), dims: [] },
    dist: floatTensor(dist, [n]),
    query: floatTensor(query, [query.length / PROJECTION_DIM, PROJECTION_DIM]),
  });
  try {
    let dist: Float32Array;
    if (options.method === 'approximate') {
      const starts = randomness.startIndices ?? randomStartIndices(n, options.startPoints ?? 10, seed);
      const r = await runtime.run(session, feeds(0, new Float32Array(n), rows(points, starts)), { outputs: ['init_mean'] });
      dist = asFloat(r.init_mean, 'init_mean').data;
    } else {
      dist = new Float32Array(n);
      const block = Math.max(1, Math.floor(2 ** 24 / n));
      for (let i = 0; i < n; i += block) {
        const idx = Array.from({ length: Math.min(block, n - i) }, (_, k) => i + k);
        const r = await runtime.run(session, feeds(0, new Float32Array(n), rows(points, idx)), { outputs: ['init_norm'] });
        dist.set(asFloat(r.init_norm, 'init_norm').data, i);
      }
    }
    const picks = new Int32Array(count);
    const chunk = options.chunk ?? 256;
    for (let done = 0; done < count; ) {
      const trip = Math.min(chunk, count - done);
      const r = await runtime.run(session, feeds(trip, dist, new Float32Array(PROJECTION_DIM)), { outputs: ['dist_out', 'picks'] });
      dist = asFloat(r.dist_out, 'dist_out').data;
      const p = r.picks!.data as BigInt64Array;
      for (let i = 0; i < trip; i++) picks[done + i] = Number(p[i]);
      done += trip;
      onProgress?.(done, count);
    }
    return picks;
  } finally {
    await runtime.release(session);
  }
}
