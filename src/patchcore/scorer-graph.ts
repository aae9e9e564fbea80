// Exact k-nearest-neighbour scoring against the memory bank as an ONNX graph (reference:
// NearestNeighbourScorer with FaissNN / IndexFlatL2). Squared L2 distances in faiss's BLAS
// form max(0, (|q|^2 + |x|^2) - 2 q.x), the k smallest ascending, patch score = their mean.
//
// Two forms with the same results:
// - full product: every query against every bank row, in blocks with a TopK each so memory
//   stays at queries x block;
// - bounded (large banks): a (d+1)-wide lower bound (knn-bound.ts) ranks the bank, the `c`
//   best-ranked rows get exact distances, and a query is done when its (c+1)-th lower bound
//   is at least its k-th exact distance (no other row can come closer). The few queries where
//   that does not hold go through the full product. Exact either way.
import { DataType, encodeModel, GraphBuilder, valueInfo } from '../model/onnx-graph.js';
import { EMBEDDING_OUTPUT } from './embedding-head.js';
import { BOUND_DIMS, boundVectors, type BoundProjection } from './knn-bound.js';

// Named like the head's output so backbone -> head -> scorer chain by name.
export const SCORER_INPUT = EMBEDDING_OUTPUT;
export const SCORER_OUTPUTS = { distances: 'nn_distances', indices: 'nn_indices', scores: 'patch_scores' } as const;
/** Bounded form only: how many queries needed the full product (int64 scalar). */
export const SCORER_OPEN_OUTPUT = 'nn_open';

/** Bank rows per block: bounds the [queries, block] distance matrix. */
export const BANK_BLOCK = 32768;
/**
 * Exact distances computed per query beyond k in the bounded form. More candidates settle more
 * queries by the bound but gather more rows; where the full product is cheap (small banks) few
 * pay off. Measured on Magnetic Tile banks (ResNet18, 1024 dims): 1568 rows, 2 extra: 6.5 ms
 * per frame (7 extra: 9.7; full product: 21); 15680 rows, 7 extra: 34 ms (full: 205). A wide
 * bound (spread banks, knn-bound.ts) is looser: MobileNetV2, 4688 rows, 256 directions: 7
 * extra leave 19 % of queries open (1.4x the full product), 15 extra 3 % (2.1x), 31 extra 0 %
 * (1.6x).
 */
function extraCandidates(rows: number, boundDims: number): number {
  if (boundDims > BOUND_DIMS) return 15;
  return rows < 4096 ? 2 : 7;
}
/**
 * Slack on the stopping test for float32 rounding of the bound: relative to the k-th distance,
 * and to |q - m|^2 + max |x - m|^2 (the scale of the bound's cancellation error). Rows closer
 * than that to the k-th distance are ties within the product form's own rounding.
 */
const RELATIVE_SLACK = 1e-4;
const NORM_SLACK = 1e-5;

/** Squared norms of bank rows, float32 sequential sums (faiss's fvec_norm_L2sqr on one thread). */
export function rowSquaredNorms(bank: Float32Array, dim: number): Float32Array {
  const n = bank.length / dim;
  const out = new Float32Array(n);
  for (let r = 0; r < n; r++) {
    let s = 0;
    for (let d = 0; d < dim; d++) {
      const v = bank[r * dim + d]!;
      s = Math.fround(s + Math.fround(v * v));
    }
    out[r] = s;
  }
  return out;
}

interface BankBlock {
  /** Initializer holding rows [start, start + rows) as [rows, dim]. */
  name: string;
  start: number;
  rows: number;
}

/** The bank as row-major block initializers (stored once, shared by both forms). */
function bankBlocks(g: GraphBuilder, bank: Float32Array, dim: number, block: number): BankBlock[] {
  const blocks: BankBlock[] = [];
  for (let start = 0; start < bank.length / dim; start += block) {
    const rows = Math.min(block, bank.length / dim - start);
    blocks.push({ name: g.floats('bank', [rows, dim], bank.subarray(start * dim, (start + rows) * dim)), start, rows });
  }
  return blocks;
}

/** Nodes for the full product of queries `q` [Q, dim] against the bank: [Q, k] values and indices. */
function fullProduct(g: GraphBuilder, q: string, blocks: BankBlock[], norms: Float32Array, k: number): [string, string] {
  const qq = g.op('ReduceSumSquare', [q], { axes: [1], keepdims: 1 });
  const blockValues: string[] = [];
  const blockIndices: string[] = [];
  for (const { name, start, rows: m } of blocks) {
    const ip = g.op('Gemm', [q, name], { transB: 1 });
    const sum = g.op('Add', [qq, g.floats('bank_norms', [1, m], norms.subarray(start, start + m))]);
    const d2 = g.op('Max', [g.op('Sub', [sum, g.op('Mul', [ip, g.floats('two', [], [2])])]), g.floats('zero', [], [0])]);
    const [vals, idx] = g.opMulti('TopK', [d2, g.int64s('k', [Math.min(k, m)])], 2, { axis: 1, largest: 0, sorted: 1 }) as [string, string];
    blockValues.push(vals);
    blockIndices.push(start === 0 ? idx : g.op('Add', [idx, g.int64s('offset', [start], [])]));
  }
  if (blockValues.length === 1) return [blockValues[0]!, blockIndices[0]!];
  const allV = g.op('Concat', blockValues, { axis: 1 });
  const allI = g.op('Concat', blockIndices, { axis: 1 });
  const [values, pos] = g.opMulti('TopK', [allV, g.int64s('k', [k])], 2, { axis: 1, largest: 0, sorted: 1 }) as [string, string];
  return [values, g.op('GatherElements', [allI, pos], { axis: 1 })];
}

/** Nodes for the bounded form (see the file comment): [Q, k] values and indices. */
function boundedProduct(
  g: GraphBuilder,
  q: string,
  bank: Float32Array,
  blocks: BankBlock[],
  norms: Float32Array,
  dim: number,
  k: number,
  bound: BoundProjection,
  candidates: number,
): [string, string] {
  const rows = bank.length / dim;
  const w = bound.dims + 1;
  const c = Math.min(candidates, rows - 1);
  const qq = g.op('ReduceSumSquare', [q], { axes: [1], keepdims: 1 });
  // Lower bounds on all rows, in the same product form as the distances.
  const { bound: a, centredNorms: qc } = boundVectors(g, q, bound);
  const bankBoundNorms = rowSquaredNorms(bound.bankBound, w);
  const aa = g.op('ReduceSumSquare', [a], { axes: [1], keepdims: 1 });
  // One Gemm, a.(-2b) + |b|^2 (scaling by -2 is exact), then + |a|^2: two [queries, rows]
  // tensors instead of four.
  const minusTwoB = bound.bankBound.map((v) => -2 * v);
  const lb = g.op('Add', [
    g.op('Gemm', [a, g.floats('bank_bound_m2', [rows, w], minusTwoB), g.floats('bound_norms', [1, rows], bankBoundNorms)], { transB: 1 }),
    aa,
  ]);
  const [lbValues, lbIndices] = g.opMulti('TopK', [lb, g.int64s('c1', [c + 1])], 2, { axis: 1, largest: 0, sorted: 1 }) as [string, string];
  const axis1 = g.int64s('axis1', [1]);
  const cand = g.op('Slice', [lbIndices, g.int64s('s', [0]), g.int64s('e', [c]), axis1]);
  const nextBound = g.op('Slice', [lbValues, g.int64s('s', [c]), g.int64s('e', [c + 1]), axis1]);
  // Exact distances of the candidates, same operand order as the full product.
  // One block: gather from it; several: the rows once more as one tensor (banks over BANK_BLOCK rows).
  const whole = blocks.length === 1 ? blocks[0]!.name : g.floats('bank', [rows, dim], bank);
  const candRows = g.op('Gather', [whole, cand], { axis: 0 });
  const ip = g.op('Squeeze', [g.op('MatMul', [candRows, g.op('Unsqueeze', [q, g.int64s('ax', [2])])]), g.int64s('ax', [2])]);
  const candNorms = g.op('Gather', [g.floats('bank_norms', [rows], norms), cand], { axis: 0 });
  const exact = g.op('Max', [
    g.op('Sub', [g.op('Add', [qq, candNorms]), g.op('Mul', [ip, g.floats('two', [], [2])])]),
    g.floats('zero', [], [0]),
  ]);
  const [values, pos] = g.opMulti('TopK', [exact, g.int64s('k', [k])], 2, { axis: 1, largest: 0, sorted: 1 }) as [string, string];
  const indices = g.op('GatherElements', [cand, pos], { axis: 1 });
  // Done when no other row's bound is below the k-th exact distance (with slack).
  const kth = g.op('Slice', [values, g.int64s('s', [k - 1]), g.int64s('e', [k]), axis1]);
  // |x - m|^2 of a bank row is |z|^2 + r^2 of its bound vector.
  let maxNorm = 0;
  for (const v of bankBoundNorms) maxNorm = Math.max(maxNorm, v);
  const slack = g.op('Mul', [g.op('Add', [qc, g.floats('max_norm', [], [maxNorm])]), g.floats('norm_slack', [], [NORM_SLACK])]);
  const limit = g.op('Add', [g.op('Mul', [kth, g.floats('rel', [], [1 + RELATIVE_SLACK])]), slack]);
  const open = g.op('Less', [nextBound, limit]);
  // The remaining queries: full product, results scattered back into place.
  const openList = g.op('Transpose', [g.op('NonZero', [g.op('Squeeze', [open, axis1])])], { perm: [1, 0] });
  g.op('Identity', [g.op('Shape', [openList], { start: 0, end: 1 })], {}, SCORER_OPEN_OUTPUT);
  // Query 0 always goes along (its full-product result is exact too): onnxruntime's CPU
  // kernels fault on zero-row products when every query is settled.
  const openRows = g.op('Concat', [openList, g.int64s('row0', [0], [1, 1])], { axis: 0 });
  const openQ = g.op('GatherND', [q, openRows]);
  const [fullValues, fullIndices] = fullProduct(g, openQ, blocks, norms, k);
  return [g.op('ScatterND', [values, openRows, fullValues]), g.op('ScatterND', [indices, openRows, fullIndices])];
}

export interface ScorerGraphOptions {
  /** Bank rows per full-product block (tests use small blocks to exercise the merge). */
  block?: number;
  /** Use the bounded form with this projection (from boundProjection). */
  bound?: BoundProjection;
  /** Exact candidates per query in the bounded form (default k + extraCandidates(rows, bound dims)). */
  candidates?: number;
}

export function buildScorerGraph(bank: Float32Array, dim: number, k: number, opts: ScorerGraphOptions = {}): Uint8Array {
  const rows = bank.length / dim;
  if (!Number.isInteger(rows) || rows < 1) throw new RangeError(`bank of ${bank.length} values is not [rows, ${dim}]`);
  if (!Number.isInteger(k) || k < 1 || k > rows) throw new RangeError(`k must be an integer in [1, ${rows}] (bank rows), got ${k}`);
  const g = new GraphBuilder();
  const q = SCORER_INPUT;
  const norms = rowSquaredNorms(bank, dim);
  const block = opts.block ?? BANK_BLOCK;
  const candidates = Math.max(k, opts.candidates ?? k + extraCandidates(rows, opts.bound?.dims ?? BOUND_DIMS));
  const blocks = bankBlocks(g, bank, dim, block);
  const bounded = opts.bound !== undefined && rows > candidates;
  const [values, indices] =
    bounded && opts.bound ? boundedProduct(g, q, bank, blocks, norms, dim, k, opts.bound, candidates) : fullProduct(g, q, blocks, norms, k);
  g.op('Identity', [values], {}, SCORER_OUTPUTS.distances);
  g.op('Identity', [indices], {}, SCORER_OUTPUTS.indices);
  g.op('Div', [g.op('ReduceSum', [values, g.int64s('axes', [1])], { keepdims: 0 }), g.floats('k', [], [k])], {}, SCORER_OUTPUTS.scores);
  return encodeModel(
    g.build({
      name: 'patchcore_knn_scorer',
      docString: `exact ${k}-NN over a ${rows}x${dim} memory bank${opts.bound ? ` (bounded, ${opts.bound.dims}+1 dims, ${candidates} candidates)` : ''}`,
      inputs: [valueInfo(q, DataType.FLOAT, ['patches', dim])],
      outputs: [
        valueInfo(SCORER_OUTPUTS.distances, DataType.FLOAT, ['patches', k]),
        valueInfo(SCORER_OUTPUTS.indices, DataType.INT64, ['patches', k]),
        valueInfo(SCORER_OUTPUTS.scores, DataType.FLOAT, ['patches']),
        ...(bounded ? [valueInfo(SCORER_OPEN_OUTPUT, DataType.INT64, [1])] : []),
      ],
    }),
  );
}
