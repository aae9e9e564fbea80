// The memory bank loaded as a kNN scoring session in the inference runtime.
import type { InferenceRuntime } from '../model/inference-runtime.js';
import { asFloat, floatTensor } from '../model/tensor.js';
import { buildScorerGraph, SCORER_INPUT, SCORER_OUTPUTS } from './scorer-graph.js';

export interface PatchScores {
  /** [patches, k] squared distances, ascending. */
  distances: Float32Array;
  /** [patches, k] bank rows. */
  indices: BigInt64Array;
  /** [patches] mean of the k distances. */
  scores: Float32Array;
}

export class KnnScorer {
  private constructor(
    private readonly runtime: InferenceRuntime,
    readonly session: string,
    readonly dim: number,
    readonly k: number,
  ) {}

  /** `block`: bank rows per distance block (tests use small blocks to exercise the merge). */
  static async create(runtime: InferenceRuntime, bank: Float32Array, dim: number, k: number, session = 'scorer', block?: number): Promise<KnnScorer> {
    await runtime.load(session, buildScorerGraph(bank, dim, k, block));
    return new KnnScorer(runtime, session, dim, k);
  }

  /** Scores patch embeddings [rows, dim]; the buffer is transferred to the worker. */
  async score(patches: Float32Array): Promise<PatchScores> {
    const out = await this.runtime.run(this.session, { [SCORER_INPUT]: floatTensor(patches, [patches.length / this.dim, this.dim]) });
    return {
      distances: asFloat(out[SCORER_OUTPUTS.distances], SCORER_OUTPUTS.distances).data,
      indices: out[SCORER_OUTPUTS.indices]!.data as BigInt64Array,
      scores: asFloat(out[SCORER_OUTPUTS.scores], SCORER_OUTPUTS.scores).data,
    };
  }

  async release(): Promise<void> {
    await this.runtime.release(this.session);
  }
}
