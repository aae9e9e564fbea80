// A cheap lower bound on bank distances, so exact kNN can skip most of the full-width work.
//
// With an orthonormal basis V [D, d] around the bank mean m, every row x splits into its
// coordinates z = (x - m) V and a residual r = (x - m) - z V^T orthogonal to them, and
//   |x - y|^2 = |z_x - z_y|^2 + |r_x - r_y|^2 >= |z_x - z_y|^2 + (|r_x| - |r_y|)^2,
// which is the squared distance between the (d + 1)-vectors [z, |r|]. Any orthonormal V gives
// a valid bound; the bank's leading principal directions make it tight (PatchCore embeddings
// keep ~98 % of their variance in 64 of 1024 dimensions), so the d+1-wide product ranks the
// bank almost as the full one does at d / D of its cost. The basis comes from a few rounds of
// subspace iteration on a sample of bank rows, run in onnxruntime.
import type { InferenceRuntime } from '../model/inference-runtime.js';
import { DataType, encodeModel, GraphBuilder, valueInfo } from '../model/onnx-graph.js';
import { asFloat, floatTensor } from '../model/tensor.js';
import { seededRandom } from '../core/random.js';

export interface BoundProjection {
  dim: number;
  /** Coordinates kept (d). */
  dims: number;
  /** [dim] bank mean. */
  mean: Float32Array;
  /** [dim, dims] orthonormal columns. */
  basis: Float32Array;
  /** [rows, dims + 1] each bank row as [z, |r|]. */
  bankBound: Float32Array;
  /** Share of the bank's variance (around m) inside the basis: sum |z|^2 / sum |x - m|^2. */
  captured: number;
}

/**
 * Below this captured share the bound leaves most queries open and the two-pass form costs more
 * than the full product (zoo MobileNetV2 on Magnetic Tile: 0.76 in 64 directions, 97 % of
 * queries open; ResNet18 and WRN50: 0.98, under 2 % open).
 */
export const MIN_CAPTURED = 0.9;

/** Coordinates kept by the bound. */
export const BOUND_DIMS = 64;
/**
 * Coordinates kept by the bound of banks whose variance is too spread for BOUND_DIMS, at a
 * quarter of the full product's width. Measured on a 4688-row MobileNetV2 bank of Magnetic Tile
 * (exact kNN, 8 images, onnxruntime on 2 threads): 64 directions capture 0.73 of the variance
 * (97 % of queries open, 0.8x the full product), 192 capture 0.92 (1.5x), 256 capture 0.96
 * (3 % open with 16 candidates, 2.1x), 384 capture 0.99 (1.5x: the bound's own product grows).
 */
export const WIDE_BOUND_DIMS = 256;
/**
 * Below this the wide bound does not pay: MobileNetV2, 1568 rows, 256 directions: 17.8 ms per
 * frame against the full product's 17.4 (15,680 rows: 75.7 against 165.1).
 */
export const WIDE_BOUND_MIN_ROWS = 4096;
/** Below these the full product is cheap enough that the bound does not pay for its second pass. */
export const BOUND_MIN_ROWS = 1024;
const SAMPLE_ROWS = 8192;
const ITERATIONS = 8;

/** Whether a bank of this shape gets the bound (else exact kNN is the plain full product). */
export function boundApplies(rows: number, dim: number): boolean {
  return rows >= BOUND_MIN_ROWS && dim >= 4 * BOUND_DIMS;
}

/**
 * Graph nodes: [n, dim] rows -> [n, dims + 1] bound vectors [z, |r|], and [n, 1] |x - m|^2.
 * Centred explicitly (not via |x|^2 - 2 x.m + |m|^2): embeddings often sit far from the origin
 * (all-positive activations), and the bound must not inherit rounding at the scale of |x|^2.
 */
export function boundVectors(
  g: GraphBuilder,
  x: string,
  p: Pick<BoundProjection, 'dim' | 'dims' | 'mean' | 'basis'>,
): { bound: string; centredNorms: string } {
  const centred = g.op('Sub', [x, g.floats('bound_mean', [1, p.dim], p.mean)]);
  const z = g.op('MatMul', [centred, g.floats('bound_basis', [p.dim, p.dims], p.basis)]);
  const centredNorms = g.op('ReduceSumSquare', [centred], { axes: [1], keepdims: 1 });
  const r2 = g.op('Sub', [centredNorms, g.op('ReduceSumSquare', [z], { axes: [1], keepdims: 1 })]);
  const bound = g.op('Concat', [z, g.op('Sqrt', [g.op('Max', [r2, g.floats('zero', [], [0])])])], { axis: 1 });
  return { bound, centredNorms };
}

/** Modified Gram-Schmidt, twice, in float64, on `dims` vectors of length `dim` stored one after another. */
function orthonormalize(cols: Float64Array, dim: number, dims: number): void {
  for (let pass = 0; pass < 2; pass++) {
    for (let j = 0; j < dims; j++) {
      const vj = cols.subarray(j * dim, (j + 1) * dim);
      for (let i = 0; i < j; i++) {
        const vi = cols.subarray(i * dim, (i + 1) * dim);
        let dot = 0;
        for (let d = 0; d < dim; d++) dot += vi[d]! * vj[d]!;
        for (let d = 0; d < dim; d++) vj[d]! -= dot * vi[d]!;
      }
      let norm = 0;
      for (let d = 0; d < dim; d++) norm += vj[d]! ** 2;
      norm = Math.sqrt(norm) || 1;
      for (let d = 0; d < dim; d++) vj[d]! /= norm;
    }
  }
}

/** [dims vectors of dim] <-> [dim, dims] row-major (the graph's layout). */
function swapLayout(src: ArrayLike<number>, rows: number, cols: number, out: Float64Array | Float32Array): void {
  for (let r = 0; r < rows; r++) for (let c = 0; c < cols; c++) out[c * rows + r] = src[r * cols + c]!;
}

/**
 * The bound for a bank: BOUND_DIMS directions where they capture MIN_CAPTURED of its variance,
 * else WIDE_BOUND_DIMS where the bank is wide (4x) and long (WIDE_BOUND_MIN_ROWS) enough for
 * those to pay. The caller checks `captured` of what comes back.
 */
export async function fittedBoundProjection(
  runtime: InferenceRuntime,
  bank: Float32Array,
  dim: number,
  session: string,
): Promise<BoundProjection> {
  const narrow = await boundProjection(runtime, bank, dim, BOUND_DIMS, session);
  if (narrow.captured >= MIN_CAPTURED || dim < 4 * WIDE_BOUND_DIMS || bank.length / dim < WIDE_BOUND_MIN_ROWS) return narrow;
  return boundProjection(runtime, bank, dim, WIDE_BOUND_DIMS, session);
}

/** Mean, leading principal directions (subspace iteration on a row sample) and the bank's bound vectors. */
export async function boundProjection(
  runtime: InferenceRuntime,
  bank: Float32Array,
  dim: number,
  dims = BOUND_DIMS,
  session = 'knn-bound/prepare',
): Promise<BoundProjection> {
  const rows = bank.length / dim;
  const mean = new Float32Array(dim);
  const acc = new Float64Array(dim);
  for (let r = 0; r < rows; r++) for (let d = 0; d < dim; d++) acc[d]! += bank[r * dim + d]!;
  for (let d = 0; d < dim; d++) mean[d] = acc[d]! / rows;
  // At most SAMPLE_ROWS: the sample is a graph constant, copied by the protobuf and by onnxruntime.
  const step = Math.max(1, Math.ceil(rows / SAMPLE_ROWS));
  const n = Math.ceil(rows / step);
  const sample = new Float32Array(n * dim);
  for (let i = 0; i < n; i++) for (let d = 0; d < dim; d++) sample[i * dim + d] = bank[i * step * dim + d]! - mean[d]!;

  const g = new GraphBuilder();
  // The sample is a graph constant: sent once, not with each of the iterations; S^T (S v) as a
  // Gemm with transA, so it is held once, not also transposed.
  const s = g.floats('sample', [n, dim], sample);
  g.op('Gemm', [s, g.op('MatMul', [s, 'v'])], { transA: 1 }, 'sv');
  await runtime.load(
    session,
    encodeModel(
      g.build({
        name: 'bound_subspace_step',
        inputs: [valueInfo('v', DataType.FLOAT, [dim, dims])],
        outputs: [valueInfo('sv', DataType.FLOAT, [dim, dims])],
      }),
    ),
  );
  const rand = seededRandom(0x5eed);
  const cols = Float64Array.from({ length: dim * dims }, () => rand() - 0.5);
  const v = new Float32Array(dim * dims);
  try {
    for (let it = 0; it < ITERATIONS; it++) {
      orthonormalize(cols, dim, dims);
      swapLayout(cols, dims, dim, v);
      const out = await runtime.run(session, { v: floatTensor(v.slice(), [dim, dims]) });
      swapLayout(asFloat(out.sv, 'sv').data, dim, dims, cols);
    }
    orthonormalize(cols, dim, dims);
  } finally {
    await runtime.release(session);
  }
  swapLayout(cols, dims, dim, v);
  const basis = v;

  const p = new GraphBuilder();
  p.op('Identity', [boundVectors(p, 'x', { dim, dims, mean, basis }).bound], {}, 'bound');
  await runtime.load(
    session,
    encodeModel(
      p.build({
        name: 'bound_vectors',
        inputs: [valueInfo('x', DataType.FLOAT, ['n', dim])],
        outputs: [valueInfo('bound', DataType.FLOAT, ['n', dims + 1])],
      }),
    ),
  );
  const bankBound = new Float32Array(rows * (dims + 1));
  try {
    const chunk = 8192;
    for (let r = 0; r < rows; r += chunk) {
      const m = Math.min(chunk, rows - r);
      const res = await runtime.run(session, { x: floatTensor(bank.slice(r * dim, (r + m) * dim), [m, dim]) });
      bankBound.set(asFloat(res.bound, 'bound').data, r * (dims + 1));
    }
  } finally {
    await runtime.release(session);
  }
  let inside = 0;
  let total = 0;
  for (let r = 0; r < rows; r++) {
    for (let d = 0; d < dims; d++) inside += bankBound[r * (dims + 1) + d]! ** 2;
    total += bankBound[r * (dims + 1) + dims]! ** 2;
  }
  total += inside;
  return { dim, dims, mean, basis, bankBound, captured: total > 0 ? inside / total : 1 };
}
