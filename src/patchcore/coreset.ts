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
// Continuing a bank (bank add) is the same loop started from each new point's distance to the
// nearest row already in the bank: k-center greedy with the bank rows as chosen centres.
import type { InferenceRuntime } from '../model/inference-runtime.js';
import { DataType, encodeModel, GraphBuilder, valueInfo } from '../model/onnx-graph.js';
import { asFloat, floatTensor, type Tensor } from '../model/tensor.js';
import { seededRandom } from '../core/random.js';

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

/**
 * The reduction to 128 dims (the reference's bias-free nn.Linear) as an onnxruntime session,
 * so features can be projected batch by batch as they are computed.
 */
export class Projector {
  private constructor(
    private readonly runtime: InferenceRuntime,
    private readonly session: string,
    readonly dim: number,
  ) {}

  static async create(runtime: InferenceRuntime, dim: number, weight: Float32Array, session = 'coreset/project'): Promise<Projector> {
    const g = new GraphBuilder();
    const wT = new Float32Array(dim * PROJECTION_DIM);
    for (let o = 0; o < PROJECTION_DIM; o++) for (let i = 0; i < dim; i++) wT[i * PROJECTION_DIM + o] = weight[o * dim + i]!;
    g.op('MatMul', ['x', g.floats('w', [dim, PROJECTION_DIM], wT)], {}, 'y');
    await runtime.load(
      session,
      encodeModel(
        g.build({
          name: 'projection',
          inputs: [valueInfo('x', DataType.FLOAT, ['n', dim])],
          outputs: [valueInfo('y', DataType.FLOAT, ['n', PROJECTION_DIM])],
        }),
      ),
    );
    return new Projector(runtime, session, dim);
  }

  /** [n, dim] -> [n, 128]; `rows` is copied, not transferred. */
  async project(rows: Float32Array): Promise<Float32Array> {
    const n = rows.length / this.dim;
    const out = new Float32Array(n * PROJECTION_DIM);
    const chunk = 8192;
    for (let r = 0; r < n; r += chunk) {
      const m = Math.min(chunk, n - r);
      const res = await this.runtime.run(this.session, { x: floatTensor(rows.slice(r * this.dim, (r + m) * this.dim), [m, this.dim]) });
      out.set(asFloat(res.y, 'y').data, r * PROJECTION_DIM);
    }
    return out;
  }

  release(): Promise<void> {
    return this.runtime.release(this.session);
  }
}

/** float32 squared norms |p_i|^2, the a.a term of the distance formula. */
function pointNorms(points: Float32Array, n: number): Float32Array {
  const norms = new Float32Array(n);
  for (let i = 0; i < n; i++) {
    let s = 0;
    for (let d = 0; d < PROJECTION_DIM; d++)
      s = Math.fround(s + Math.fround(points[i * PROJECTION_DIM + d]! * points[i * PROJECTION_DIM + d]!));
    norms[i] = s;
  }
  return norms;
}

/**
 * The greedy loop's model. Points are stored transposed, P^T [128, N]: the per-pick product
 * c . P^T then runs as a [1,128] x [128,N] GEMM that onnxruntime spreads over all cores (1.7x
 * faster than [N,128] x [128,1] on 2 cores; the loop is memory-bound on reading P).
 *
 * Session inputs `trip` (int64) and `dist` [N], outputs `dist_out` [N] and `picks` [trip]:
 * `trip` greedy steps from the given per-point values. Also `init_mean` (mean distance of every
 * point to the `query` rows) and `init_norm` (L2 norm of each query row's distances to all
 * points) for the two variants' starting values. Distances are
 * sqrt(max(-2 a.b + a.a + b.b, 0)) with the reference's operand order.
 */
function greedyModel(points: Float32Array, norms: Float32Array, n: number): Uint8Array {
  const g = new GraphBuilder();
  const pT = new Float32Array(PROJECTION_DIM * n);
  for (let i = 0; i < n; i++) for (let d = 0; d < PROJECTION_DIM; d++) pT[d * n + i] = points[i * PROJECTION_DIM + d]!;
  const PT = g.floats('points_t', [PROJECTION_DIM, n], pT);
  const aa = g.floats('point_norms', [1, n], norms);
  const minusTwo = g.floats('minus_two', [], [-2]);
  const zero = g.floats('zero', [], [0]);
  /** [M,128] queries -> [M, N] distances; `pointsFirst`: a = the points (else a = the queries). */
  const distances = (b: GraphBuilder, q: string, pointsFirst: boolean) => {
    const ab = b.op('Mul', [b.op('MatMul', [q, PT]), minusTwo]);
    const qq = b.op('ReduceSumSquare', [q], { axes: [1], keepdims: 1 });
    const t = pointsFirst ? b.op('Add', [b.op('Add', [ab, aa]), qq]) : b.op('Add', [b.op('Add', [ab, qq]), aa]);
    return b.op('Sqrt', [b.op('Max', [t, zero])]);
  };

  const body = new GraphBuilder('body/');
  const pick = body.op('ArgMax', ['dist_in'], { axis: 0, keepdims: 1, select_last_index: 0 });
  const centre = body.op('Transpose', [body.op('Gather', [PT, pick], { axis: 1 })], { perm: [1, 0] });
  const d = body.op('Reshape', [distances(body, centre, true), body.int64s('shape', [-1])]);
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
  g.op('ReduceMean', [distances(g, q, true)], { axes: [0], keepdims: 0 }, 'init_mean');
  g.op('ReduceL2', [distances(g, q, false)], { axes: [1], keepdims: 0 }, 'init_norm');
  g.op('ReduceMin', [distances(g, q, true)], { axes: [0], keepdims: 0 }, 'init_min');
  return encodeModel(
    g.build({
      name: 'greedy_coreset',
      inputs: [
        valueInfo('trip', DataType.INT64, []),
        valueInfo('dist', DataType.FLOAT, [n]),
        valueInfo(q, DataType.FLOAT, ['m', PROJECTION_DIM]),
      ],
      outputs: [
        valueInfo('dist_out', DataType.FLOAT, [n]),
        valueInfo('picks', DataType.INT64, ['trip']),
        valueInfo('init_mean', DataType.FLOAT, [n]),
        valueInfo('init_norm', DataType.FLOAT, ['m']),
        valueInfo('init_min', DataType.FLOAT, [n]),
      ],
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
  if (options.method === 'identity') return Int32Array.from({ length: n }, (_, i) => i);
  if (dim === PROJECTION_DIM) return selectCoresetOfPoints(runtime, features, options, randomness, onProgress);
  const projector = await Projector.create(runtime, dim, randomness.projection ?? randomProjection(dim, options.seed ?? 0));
  const points = await projector.project(features);
  await projector.release();
  return selectCoresetOfPoints(runtime, points, options, randomness, onProgress);
}

/** The same on points already reduced to 128 dims ([N, 128]; as they are when D is 128). */
export async function selectCoresetOfPoints(
  runtime: InferenceRuntime,
  points: Float32Array,
  options: CoresetOptions,
  randomness: CoresetRandomness = {},
  onProgress?: (done: number, total: number) => void,
): Promise<Int32Array> {
  const n = points.length / PROJECTION_DIM;
  if (!(options.percentage > 0 && options.percentage <= 1))
    throw new RangeError(`coreset percentage must be in (0, 1], got ${options.percentage}`);
  if (options.method === 'identity') return Int32Array.from({ length: n }, (_, i) => i);
  const count = Math.floor(n * options.percentage);
  const seed = options.seed ?? 0;
  return withGreedySession(runtime, points, async (g) => {
    let dist: Float32Array;
    if (options.method === 'approximate') {
      const starts = randomness.startIndices ?? randomStartIndices(n, options.startPoints ?? 10, seed);
      dist = await g.init('init_mean', rows(points, starts));
    } else {
      dist = new Float32Array(n);
      const block = Math.max(1, Math.floor(2 ** 24 / n));
      for (let i = 0; i < n; i += block) {
        const idx = Array.from({ length: Math.min(block, n - i) }, (_, k) => i + k);
        dist.set(await g.init('init_norm', rows(points, idx)), i);
      }
    }
    return g.picks(dist, count, options.chunk ?? 256, onProgress);
  });
}

/**
 * Continues the greedy selection over `points` [N, 128] from centres already chosen (`chosen`
 * [M, 128]: a bank's rows, projected as its coreset was): the first pick is the point farthest
 * from every chosen row, and so on. Returns `count` indices into `points`, in selection order.
 */
export async function continueCoresetOfPoints(
  runtime: InferenceRuntime,
  points: Float32Array,
  chosen: Float32Array,
  count: number,
  opts: { chunk?: number } = {},
  onProgress?: (done: number, total: number) => void,
): Promise<Int32Array> {
  const n = points.length / PROJECTION_DIM;
  const m = chosen.length / PROJECTION_DIM;
  if (!Number.isInteger(n) || !Number.isInteger(m) || m < 1)
    throw new RangeError(`continuing a coreset needs [N, ${PROJECTION_DIM}] points and at least one chosen row`);
  if (!Number.isInteger(count) || count < 0 || count > n) throw new RangeError(`cannot pick ${count} of ${n} points`);
  return withGreedySession(runtime, points, async (g) => {
    const dist = new Float32Array(n).fill(Infinity);
    const block = Math.max(1, Math.floor(2 ** 24 / n));
    for (let i = 0; i < m; i += block) {
      const d = await g.init('init_min', chosen.subarray(i * PROJECTION_DIM, Math.min(m, i + block) * PROJECTION_DIM).slice());
      for (let j = 0; j < n; j++) if (d[j]! < dist[j]!) dist[j] = d[j]!;
    }
    return g.picks(dist, count, opts.chunk ?? 256, onProgress);
  });
}

interface GreedySession {
  /** Starting values: an init_* output for the `query` rows. */
  init(output: 'init_mean' | 'init_norm' | 'init_min', query: Float32Array): Promise<Float32Array>;
  /** `count` greedy steps from `dist`, `chunk` per onnxruntime call. */
  picks(dist: Float32Array, count: number, chunk: number, onProgress?: (done: number, total: number) => void): Promise<Int32Array>;
}

async function withGreedySession<T>(runtime: InferenceRuntime, points: Float32Array, fn: (g: GreedySession) => Promise<T>): Promise<T> {
  const n = points.length / PROJECTION_DIM;
  const session = 'coreset/greedy';
  await runtime.load(session, greedyModel(points, pointNorms(points, n), n));
  const feeds = (trip: number, dist: Float32Array, query: Float32Array): Record<string, Tensor> => ({
    trip: { type: 'int64', data: BigInt64Array.of(BigInt(trip)), dims: [] },
    dist: floatTensor(dist, [n]),
    query: floatTensor(query, [query.length / PROJECTION_DIM, PROJECTION_DIM]),
  });
  try {
    return await fn({
      init: async (output, query) => {
        const r = await runtime.run(session, feeds(0, new Float32Array(n), query), { outputs: [output] });
        return asFloat(r[output], output).data;
      },
      picks: async (dist, count, chunk, onProgress) => {
        const picks = new Int32Array(count);
        for (let done = 0; done < count;) {
          const trip = Math.min(chunk, count - done);
          const r = await runtime.run(session, feeds(trip, dist, new Float32Array(PROJECTION_DIM)), { outputs: ['dist_out', 'picks'] });
          dist = asFloat(r.dist_out, 'dist_out').data;
          const p = r.picks!.data as BigInt64Array;
          for (let i = 0; i < trip; i++) picks[done + i] = Number(p[i]);
          done += trip;
          onProgress?.(done, count);
        }
        return picks;
      },
    });
  } finally {
    await runtime.release(session);
  }
}
