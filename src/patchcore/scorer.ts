// The memory bank loaded as a kNN scoring session in the inference runtime.
import type { InferenceRuntime } from '../model/inference-runtime.js';
import type { ProviderConfig } from '../model/provider-fallback.js';
import { asFloat, floatTensor } from '../model/tensor.js';
import { boundApplies, fittedBoundProjection, MIN_CAPTURED } from './knn-bound.js';
import { buildScorerGraph, SCORER_INPUT, SCORER_OPEN_OUTPUT, SCORER_OUTPUTS, type ScorerGraphOptions } from './scorer-graph.js';

export interface ScorerOptions extends Omit<ScorerGraphOptions, 'bound'> {
  /** 'auto': the bounded form for banks where it pays (boundApplies, MIN_CAPTURED); 'full': always the full product. */
  form?: 'auto' | 'bounded' | 'full';
}

/** The exact kNN scorer graph for a bank (the bounded form's projection is computed in `runtime`). */
export async function scorerModel(
  runtime: InferenceRuntime,
  bank: Float32Array,
  dim: number,
  k: number,
  opts: ScorerOptions = {},
  session = 'scorer',
): Promise<Uint8Array> {
  const form = opts.form ?? 'auto';
  const bounded = form === 'bounded' || (form === 'auto' && boundApplies(bank.length / dim, dim));
  const projection = bounded ? await fittedBoundProjection(runtime, bank, dim, `${session}/bound`) : undefined;
  // 'auto' keeps the full product where the bank's variance is too spread for the bound to settle queries.
  const bound = projection && (form === 'bounded' || projection.captured >= MIN_CAPTURED) ? projection : undefined;
  return buildScorerGraph(bank, dim, k, { ...opts, bound });
}

/** Loads the exact kNN scorer for a bank as `session` (on `providers`, default the runtime's). */
export async function loadScorer(
  runtime: InferenceRuntime,
  session: string,
  bank: Float32Array,
  dim: number,
  k: number,
  opts: ScorerOptions & { providers?: ProviderConfig[] } = {},
): Promise<void> {
  const { providers, ...form } = opts;
  await runtime.load(session, await scorerModel(runtime, bank, dim, k, form, session), providers ? { providers } : {});
}

export interface PatchScores {
  /** [patches, k] squared distances, ascending. */
  distances: Float32Array;
  /** [patches, k] bank rows. */
  indices: BigInt64Array;
  /** [patches] mean of the k distances. */
  scores: Float32Array;
  /** Bounded form: patches that needed the full product. */
  open?: number;
}

export class KnnScorer {
  private constructor(
    private readonly runtime: InferenceRuntime,
    readonly session: string,
    readonly dim: number,
    readonly k: number,
  ) {}

  static async create(
    runtime: InferenceRuntime,
    bank: Float32Array,
    dim: number,
    k: number,
    session = 'scorer',
    opts: ScorerOptions = {},
  ): Promise<KnnScorer> {
    await loadScorer(runtime, session, bank, dim, k, opts);
    return new KnnScorer(runtime, session, dim, k);
  }

  /** Scores patch embeddings [rows, dim]; the buffer is transferred to the worker. */
  async score(patches: Float32Array): Promise<PatchScores> {
    const out = await this.runtime.run(this.session, { [SCORER_INPUT]: floatTensor(patches, [patches.length / this.dim, this.dim]) });
    return {
      distances: asFloat(out[SCORER_OUTPUTS.distances], SCORER_OUTPUTS.distances).data,
      indices: out[SCORER_OUTPUTS.indices]!.data as BigInt64Array,
      scores: asFloat(out[SCORER_OUTPUTS.scores], SCORER_OUTPUTS.scores).data,
      open: out[SCORER_OPEN_OUTPUT] ? Number((out[SCORER_OPEN_OUTPUT].data as BigInt64Array)[0]) : undefined,
    };
  }

  async release(): Promise<void> {
    await this.runtime.release(this.session);
  }
}
