// A fitted PatchCore model: backbone -> head -> kNN scorer chained in the inference worker,
// then image scores and anomaly maps. Built from a bank file, which names everything else.
import type { TensorNCHW } from '../core/image.js';
import { BackboneError, backboneSha256, modelDir, resolveBackbone, type ResolvedBackbone } from '../model/backbone.js';
import type { InferenceRuntime } from '../model/inference-runtime.js';
import { encodeModel } from '../model/onnx-graph.js';
import { providerName, type ProviderFallback } from '../model/provider-fallback.js';
import { sessionProviders } from '../model/providers.js';
import { asFloat, floatTensor } from '../model/tensor.js';
import { anomalyMap } from './anomaly-map.js';
import type { Bank, BankManifest } from './bank-file.js';
import { Embedder } from './embedder.js';
import { fusedModel } from './fused-model.js';
import { buildMapGraph, MAP_OUTPUTS } from './map-graph.js';
import { SCORER_OUTPUTS } from './scorer-graph.js';
import { loadScorer } from './scorer.js';

export interface Prediction {
  /** [images] max patch score per image. */
  imageScores: Float32Array;
  /** [images * gh * gw] patch scores. */
  patchScores: Float32Array;
  /**
   * Image i's smoothed anomaly map [height * width] at the model input size, computed when
   * asked (it costs more than the kNN of a small bank, and most frames never need one).
   */
  map(i: number): Float32Array;
}

/** 0 at score 0, 0.5 at the threshold, approaching 1 for scores far above it: 1 - 2^(-score/threshold). */
export function normalizeScore(score: number, threshold: number): number {
  if (!(threshold > 0)) return NaN;
  return 1 - 2 ** (-Math.max(0, score) / threshold);
}

/** Resolves the backbone a bank was fitted with and checks it is the same file. */
export function bankBackbone(manifest: BankManifest, override?: { backbone?: string; modelDir?: string }): ResolvedBackbone {
  const b = resolveBackbone(override?.backbone ?? manifest.backbone.ref, modelDir(override?.modelDir));
  const sha256 = backboneSha256(b);
  if (sha256 !== manifest.backbone.sha256) {
    throw new BackboneError(
      `backbone file ${b.onnxPath} has sha256 ${sha256.slice(0, 16)}…, but the bank was fitted with ${manifest.backbone.name} sha256 ${manifest.backbone.sha256.slice(0, 16)}…: ` +
        `scores would be meaningless. Point --backbone/--model-dir at the original model, or refit the bank with this one.`,
    );
  }
  return b;
}

export interface PatchCoreOptions {
  /** Keeps session names apart when several models share a runtime. */
  prefix?: string;
  /**
   * One ONNX graph for the whole frame (backbone, head, kNN, image scores and maps) instead of
   * three chained sessions, so an accelerator runs it without handing tensors back.
   */
  fused?: boolean;
  /**
   * Where anomaly maps come from: 'reference' computes each map on demand in JS, bit for bit as
   * the reference (evaluation, parity); 'graph' computes every map in the inference worker as
   * two small matrix products (map-graph.ts, within float32 rounding of the reference), so the
   * caller's thread does no per-pixel work. Fused models always use the graph.
   */
  maps?: 'reference' | 'graph';
  /** Largest batch the caller sends (TensorRT optimisation profiles cover 1..maxBatch). */
  maxBatch?: number;
}

export class PatchCore {
  private constructor(
    private readonly runtime: InferenceRuntime,
    readonly embedder: Embedder,
    /** Session names in chain order: backbone, head, scorer; or the one fused session. */
    readonly sessions: string[],
    readonly manifest: BankManifest,
    readonly fused: boolean,
    /** Maps come out of the graph (fused, or maps: 'graph'). */
    readonly mapsInGraph: boolean,
    /** Execution providers of the heavy session (backbone, or the fused frame), and those dropped. */
    readonly providers: string[],
    readonly fallbacks: ProviderFallback[],
  ) {}

  static async load(
    runtime: InferenceRuntime,
    bank: Bank,
    backbone: ResolvedBackbone,
    opts: PatchCoreOptions | string = {},
  ): Promise<PatchCore> {
    const { prefix = 'model', fused = false, maps = 'reference', maxBatch = 1 } = typeof opts === 'string' ? { prefix: opts } : opts;
    const m = bank.manifest;
    const embedder = await Embedder.forBank(runtime, backbone, m, prefix, { maxBatch, probe: fused });
    const base = runtime.options.executionProviders;
    if (fused) {
      const session = `${prefix}/frame`;
      const tensorrt = base.some((p) => providerName(p) === 'tensorrt');
      const frame = await fusedModel(runtime, bank, embedder, session, { target: tensorrt ? 'tensorrt' : 'cpu' });
      const loaded = await runtime.load(session, frame.bytes, {
        providers: sessionProviders(base, {
          input: embedder.inputName,
          channels: 3,
          height: m.input.height,
          width: m.input.width,
          maxBatch,
          explicitInt8: embedder.explicitInt8,
        }),
      });
      // The separate backbone and head sessions were only needed to build the graph.
      await runtime.release(embedder.backboneSession);
      await runtime.release(embedder.headSession);
      return new PatchCore(runtime, embedder, [session], m, true, true, loaded.providers, loaded.fallbacks);
    }
    const scorerSession = `${prefix}/scorer`;
    await loadScorer(runtime, scorerSession, bank.rows, m.head.targetDim, m.scorer.k, { providers: sessionProviders(base) });
    const chain = [embedder.backboneSession, embedder.headSession, scorerSession];
    if (maps === 'graph') {
      const mapSession = `${prefix}/map`;
      await runtime.load(mapSession, encodeModel(buildMapGraph(embedder.grid, m.input, m.scorer.mapSigma)), {
        providers: sessionProviders(base),
      });
      chain.push(mapSession);
    }
    return new PatchCore(runtime, embedder, chain, m, false, maps === 'graph', embedder.providers, embedder.fallbacks);
  }

  async release(): Promise<void> {
    for (const s of this.sessions) await this.runtime.release(s);
  }

  get threshold(): number {
    return this.manifest.calibration.threshold;
  }

  /** Scores a batch (its buffer is transferred to the worker). */
  async predict(batch: TensorNCHW): Promise<Prediction> {
    const [n, , h, w] = batch.dims;
    const feeds = { [this.embedder.inputName]: floatTensor(batch.data, batch.dims) };
    const { height: gh, width: gw } = this.embedder.grid;
    const per = gh * gw;
    if (this.mapsInGraph) {
      const out = await this.runtime.run(
        this.sessions,
        feeds,
        this.fused ? { outputs: [SCORER_OUTPUTS.scores, MAP_OUTPUTS.imageScores, MAP_OUTPUTS.maps] } : { keep: [SCORER_OUTPUTS.scores] },
      );
      const maps = asFloat(out[MAP_OUTPUTS.maps], MAP_OUTPUTS.maps).data;
      return {
        imageScores: asFloat(out[MAP_OUTPUTS.imageScores], MAP_OUTPUTS.imageScores).data,
        patchScores: asFloat(out[SCORER_OUTPUTS.scores], SCORER_OUTPUTS.scores).data,
        map: (i) => maps.subarray(i * h * w, (i + 1) * h * w),
      };
    }
    const out = await this.runtime.run(this.sessions, feeds, { outputs: [SCORER_OUTPUTS.scores] });
    const patchScores = asFloat(out[SCORER_OUTPUTS.scores], SCORER_OUTPUTS.scores).data;
    const imageScores = new Float32Array(n);
    for (let i = 0; i < n; i++) {
      let max = -Infinity;
      for (let p = i * per; p < (i + 1) * per; p++) if (patchScores[p]! > max) max = patchScores[p]!;
      imageScores[i] = max;
    }
    const sigma = this.manifest.scorer.mapSigma;
    return { imageScores, patchScores, map: (i) => anomalyMap(patchScores.subarray(i * per, (i + 1) * per), gh, gw, h, w, sigma) };
  }
}
