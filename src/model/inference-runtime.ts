// Main-thread handle on the inference worker: load named ONNX sessions, run them (alone or
// chained), and get typed tensors back. The one place the rest of patchline talks to
// onnxruntime, so execution providers and threading are decided here.
import { availableParallelism } from 'node:os';
import { buffersOf, moduleWorker, siblingModule, WorkerClient } from '../core/worker-rpc.js';
import type { ProviderConfig } from './provider-fallback.js';
import type { TensorMap } from './tensor.js';
import type { LoadResult, SessionOptions, WorkerRequest } from './worker-protocol.js';

export interface LoadedSession extends LoadResult {
  name: string;
}

/** A worker that does not release its sessions within this (a run stuck in it) is ended anyway. */
const RELEASE_TIMEOUT_MS = 10_000;

export class InferenceRuntime {
  private readonly client: WorkerClient<WorkerRequest>;
  readonly options: SessionOptions;

  constructor(options: Partial<SessionOptions> = {}) {
    this.options = {
      intraOpThreads: options.intraOpThreads ?? Math.max(1, availableParallelism()),
      executionProviders: options.executionProviders ?? ['cpu'],
    };
    this.client = new WorkerClient(moduleWorker(siblingModule(import.meta.url, 'inference-worker')), 'inference worker');
  }

  /**
   * Loads (or replaces) a session from an ONNX file path or model bytes. Bytes that own their
   * whole buffer (fresh encodes) are moved to the worker, not copied: models can carry a memory
   * bank or coreset points of hundreds of MB.
   */
  /** `providers`: this session's providers instead of the runtime's (model/providers.ts sessionProviders). */
  async load(name: string, model: Uint8Array | string, opts: { providers?: ProviderConfig[] } = {}): Promise<LoadedSession> {
    const owned =
      typeof model !== 'string' &&
      model.byteOffset === 0 &&
      model.byteLength === model.buffer.byteLength &&
      model.buffer instanceof ArrayBuffer;
    const options = opts.providers ? { ...this.options, executionProviders: opts.providers } : this.options;
    const loaded = await this.client.request<LoadResult>(
      { type: 'load', name, model, options },
      owned ? [model.buffer as ArrayBuffer] : [],
    );
    return { name, ...loaded };
  }

  /**
   * Runs sessions in order; each step's outputs feed the next by name. Returns the last step's
   * outputs (only `outputs` when given) plus any earlier outputs listed in `keep`. Input
   * buffers are transferred to the worker: callers must not reuse them.
   */
  run(chain: string | string[], feeds: TensorMap, opts: { keep?: string[]; outputs?: string[] } = {}): Promise<TensorMap> {
    return this.client.request<TensorMap>({ type: 'run', chain: Array.isArray(chain) ? chain : [chain], feeds, ...opts }, [
      ...buffersOf(feeds),
    ]);
  }

  async release(name: string): Promise<void> {
    await this.client.request({ type: 'release', name });
  }

  /**
   * Releases every session, then ends the worker. Terminating a worker does not run
   * onnxruntime's finalizers: without the release, each closed runtime (a replaced bank) would
   * leave its sessions' native memory behind.
   */
  async close(): Promise<void> {
    let timer: NodeJS.Timeout | undefined;
    await Promise.race([
      this.client.request({ type: 'release-all' }).catch(() => undefined),
      new Promise((r) => (timer = setTimeout(r, RELEASE_TIMEOUT_MS))),
    ]);
    clearTimeout(timer);
    await this.client.close();
  }
}
