// Pixels -> PatchCore embedding: the prepared backbone and the head graph as one chained run in
// the inference worker, so feature maps stay inside the worker.
import type { ResolvedBackbone } from '../model/backbone.js';
import { preparedBackbonePath } from '../model/backbone.js';
import { sessionProviders } from '../model/providers.js';
import { encodeModel } from '../model/onnx-graph.js';
import type { InferenceRuntime, LoadedSession } from '../model/inference-runtime.js';
import { asFloat, floatTensor } from '../model/tensor.js';
import type { TensorNCHW } from '../core/image.js';
import type { BankManifest } from './bank-file.js';
import { buildEmbeddingHead, EMBEDDING_OUTPUT, headGrid, type HeadSpec, type LayerShape } from './embedding-head.js';

export interface HeadParams {
  patchsize: number;
  pretrainDim: number;
  targetDim: number;
}

export interface Embedding {
  /** [images * gridHeight * gridWidth, dim], rows in (image, y, x) order. */
  data: Float32Array;
  images: number;
  dim: number;
  grid: { height: number; width: number };
}

export class Embedder {
  private constructor(
    private readonly runtime: InferenceRuntime,
    readonly backboneSession: string,
    /** The prepared backbone ONNX file the session was loaded from. */
    readonly backbonePath: string,
    readonly inputName: string,
    readonly headSession: string,
    readonly headSpec: HeadSpec,
    readonly input: { width: number; height: number },
    readonly backboneSha256: string,
    /** The backbone is a QDQ int8 graph (TensorRT builds it with its INT8 flag). */
    readonly explicitInt8: boolean,
    /** Execution providers the backbone runs with, and preferred ones that were not available. */
    readonly providers: LoadedSession['providers'] = [],
    readonly fallbacks: LoadedSession['fallbacks'] = [],
  ) {}

  /**
   * Loads the backbone, probes its layer shapes at the input size, builds and loads the head.
   * `prefix` keeps session names apart when several embedders share a runtime. The backbone
   * runs on the runtime's providers (TensorRT with a profile for 1..maxBatch images); the head
   * on them without TensorRT. `probe`: both only serve to learn shapes (a fused graph is built
   * from them), so they load on the CPU.
   */
  static async create(
    runtime: InferenceRuntime,
    backbone: ResolvedBackbone,
    layers: string[],
    head: HeadParams,
    input: { width: number; height: number },
    prefix = 'embed',
    opts: { maxBatch?: number; probe?: boolean } = {},
  ): Promise<Embedder> {
    const { path, sourceSha256, inputName, explicitInt8 } = preparedBackbonePath(backbone, layers);
    const bb = `${prefix}/backbone`;
    const base = opts.probe ? ['cpu'] : runtime.options.executionProviders;
    const loaded = await runtime.load(bb, path, {
      providers: sessionProviders(base, {
        input: inputName,
        channels: 3,
        height: input.height,
        width: input.width,
        maxBatch: opts.maxBatch ?? 1,
        explicitInt8,
      }),
    });
    const probe = await runtime.run(bb, {
      [inputName]: floatTensor(new Float32Array(3 * input.width * input.height), [1, 3, input.height, input.width]),
    });
    const shapes: LayerShape[] = layers.map((name) => {
      const t = probe[name];
      if (!t || t.dims.length !== 4)
        throw new Error(
          `backbone '${backbone.spec.name}': layer '${name}' is not a [N,C,H,W] feature map (dims ${t?.dims.join('x') ?? 'missing'})`,
        );
      return { name, channels: t.dims[1]!, height: t.dims[2]!, width: t.dims[3]! };
    });
    const headSpec: HeadSpec = { layers: shapes, ...head };
    const hs = `${prefix}/head`;
    await runtime.load(hs, encodeModel(buildEmbeddingHead(headSpec)), { providers: sessionProviders(base) });
    return new Embedder(runtime, bb, path, inputName, hs, headSpec, input, sourceSha256, explicitInt8, loaded.providers, loaded.fallbacks);
  }

  /** The embedder a bank was fitted with: its layers, head and input size. */
  static forBank(
    runtime: InferenceRuntime,
    backbone: ResolvedBackbone,
    manifest: Pick<BankManifest, 'backbone' | 'head' | 'input'>,
    prefix: string,
    opts: { maxBatch?: number; probe?: boolean } = {},
  ): Promise<Embedder> {
    return Embedder.create(
      runtime,
      backbone,
      manifest.backbone.layers.map((l) => l.name),
      manifest.head,
      manifest.input,
      prefix,
      opts,
    );
  }

  get grid(): { height: number; width: number } {
    return headGrid(this.headSpec);
  }

  /** Embeds a batch; its buffer is transferred to the worker. */
  async embed(batch: TensorNCHW): Promise<Embedding> {
    const [n, , h, w] = batch.dims;
    if (h !== this.input.height || w !== this.input.width)
      throw new RangeError(`batch is ${w}x${h}, the embedder was built for ${this.input.width}x${this.input.height}`);
    const out = await this.runtime.run([this.backboneSession, this.headSession], { [this.inputName]: floatTensor(batch.data, batch.dims) });
    const e = asFloat(out[EMBEDDING_OUTPUT], EMBEDDING_OUTPUT);
    return { data: e.data, images: n, dim: this.headSpec.targetDim, grid: this.grid };
  }
}
