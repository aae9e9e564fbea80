// Exact k-nearest-neighbour scoring against the memory bank as an ONNX graph (reference:
// NearestNeighbourScorer with FaissNN / IndexFlatL2). Squared L2 distances in faiss's BLAS
// form max(0, (|q|^2 + |x|^2) - 2 q.x), the k smallest ascending, patch score = their mean.
// The bank is split into blocks with a TopK each, so memory stays at queries x block.
import { DataType, encodeModel, GraphBuilder, valueInfo } from '../model/onnx-graph.js';
import { EMBEDDING_OUTPUT } from './embedding-head.js';

// Named like the head's output so backbone -> head -> scorer chain by name.
export const SCORER_INPUT = EMBEDDING_OUTPUT;
export const SCORER_OUTPUTS = { distances: 'nn_distances', indices: 'nn_indices', scores: 'patch_scores' } as const;

/** Bank rows per block: bounds the [queries, block] distance matrix. */
export const BANK_BLOCK = 32768;

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

export function buildScorerGraph(bank: Float32Array, dim: number, k: number, block = BANK_BLOCK): Uint8Array {
  const rows = bank.length / dim;
  if (!Number.isInteger(rows) || rows < 1) throw new RangeError(`bank of ${bank.length} values is not [rows, ${dim}]`);
  if (!Number.isInteger(k) || k < 1 || k > rows) throw new RangeError(`k must be an integer in [1, ${rows}] (bank rows), got ${k}`);
  const g = new GraphBuilder();
  const q = SCORER_INPUT;
  const qq = g.op('ReduceSumSquare', [q], { axes: [1], keepdims: 1 });
  const norms = rowSquaredNorms(bank, dim);
  const blockValues: string[] = [];
  const blockIndices: string[] = [];
  for (let start = 0; start < rows; start += block) {
    const m = Math.min(block, rows - start);
    const xT = new Float32Array(dim * m);
    for (let r = 0; r < m; r++) for (let d = 0; d < dim; d++) xT[d * m + r] = bank[(start + r) * dim + d]!;
    const ip = g.op('MatMul', [q, g.floats('bank_t', [dim, m], xT)]);
    const sum = g.op('Add', [qq, g.floats('bank_norms', [1, m], norms.subarray(start, start + m))]);
    const d2 = g.op('Max', [g.op('Sub', [sum, g.op('Mul', [ip, g.floats('two', [], [2])])]), g.floats('zero', [], [0])]);
    const kk = Math.min(k, m);
    const [vals, idx] = g.opMulti('TopK', [d2, g.int64s('k', [kk])], 2, { axis: 1, largest: 0, sorted: 1 }) as [string, string];
    blockValues.push(vals);
    blockIndices.push(start === 0 ? idx : g.op('Add', [idx, g.int64s('offset', [start], [])]));
  }
  let values = blockValues[0]!;
  let indices = blockIndices[0]!;
  if (blockValues.length > 1) {
    const allV = g.op('Concat', blockValues, { axis: 1 });
    const allI = g.op('Concat', blockIndices, { axis: 1 });
    const [mergedValues, pos] = g.opMulti('TopK', [allV, g.int64s('k', [k])], 2, { axis: 1, largest: 0, sorted: 1 }) as [string, string];
    values = mergedValues;
    indices = g.op('GatherElements', [allI, pos], { axis: 1 });
  }
  g.op('Identity', [values], {}, SCORER_OUTPUTS.distances);
  g.op('Identity', [indices], {}, SCORER_OUTPUTS.indices);
  g.op('Div', [g.op('ReduceSum', [values, g.int64s('axes', [1])], { keepdims: 0 }), g.floats('k', [], [k])], {}, SCORER_OUTPUTS.scores);
  return encodeModel(
    g.build({
      name: 'patchcore_knn_scorer',
      docString: `exact ${k}-NN over a ${rows}x${dim} memory bank`,
      inputs: [valueInfo(q, DataType.FLOAT, ['patches', dim])],
      outputs: [
        valueInfo(SCORER_OUTPUTS.distances, DataType.FLOAT, ['patches', k]),
        valueInfo(SCORER_OUTPUTS.indices, DataType.INT64, ['patches', k]),
        valueInfo(SCORER_OUTPUTS.scores, DataType.FLOAT, ['patches']),
      ],
    }),
  );
}
