// Main-thread handle on the inference worker: load named ONNX sessions, run them (alone or
// chained), and get typed tensors back. The one place the rest of patchline talks to
// onnxruntime, so execution providers and threading are decided here.
import { availableParallelism } from 'node:os';
import { Worker } from 'node:worker_threads';
import type { TensorMap } from './tensor.js';
import type { ProviderFallback, SessionOptions, WorkerReply, WorkerRequest } from './worker-protocol.js';

type Pending = { resolve: (r: WorkerReply & { ok: true }) => void; reject: (e: Error) => void };

// Distributive Omit keeps the union's members apart.
type RequestBody = WorkerRequest extends infer R ? (R extends WorkerRequest ? Omit<R, 'id'> : never) : never;

export interface LoadedSession {
  name: string;
  inputNames: string[];
  outputNames: string[];
  /** Execution providers the session runs with, in order. */
  providers: string[];
  /** Preferred providers that were dropped (not in this build, library missing). */
  fallbacks: ProviderFallback[];
}

export class InferenceRuntime {
  private readonly worker: Worker;
  private readonly pending = new Map<number, Pending>();
  private nextId = 1;
  private failure: Error | undefined;
  readonly options: SessionOptions;

  constructor(options: Partial<SessionOptions> = {}) {
    this.options = {
      intraOpThreads: options.intraOpThreads ?? Math.max(1, availableParallelism()),
      executionProviders: options.executionProviders ?? ['cpu'],
    };
    // Under tsx (tests, dev) this module is .ts and so is its worker, which then needs tsx's
    // loader registered inside the worker before it is imported.
    if (import.meta.url.endsWith('.ts')) {
      const entry = JSON.stringify(new URL('./inference-worker.ts', import.meta.url).href);
      this.worker = new Worker(`import('tsx/esm/api').then((m) => { m.register(); return import(${entry}); });`, { eval: true });
    } else {
      this.worker = new Worker(new URL('./inference-worker.js', import.meta.url));
    }
    this.worker.on('message', (reply: WorkerReply) => {
      const p = this.pending.get(reply.id);
      if (!p) return;
      this.pending.delete(reply.id);
      if (reply.ok) p.resolve(reply);
      else p.reject(new Error(reply.error));
    });
    this.worker.on('error', (e) => this.failAll(e));
    this.worker.on('exit', (code) => this.failAll(new Error(`inference worker exited with code ${code}`)));
  }

  private failAll(e: Error): void {
    this.failure ??= e;
    for (const p of this.pending.values()) p.reject(e);
    this.pending.clear();
  }

  private request(body: RequestBody, transfer: ArrayBuffer[] = []): Promise<WorkerReply & { ok: true }> {
    if (this.failure) return Promise.reject(this.failure);
    const id = this.nextId++;
    return new Promise((resolve, reject) => {
      this.pending.set(id, { resolve, reject });
      this.worker.postMessage({ ...body, id } as WorkerRequest, transfer);
    });
  }

  /**
   * Loads (or replaces) a session from an ONNX file path or model bytes. Bytes that own their
   * whole buffer (fresh encodes) are moved to the worker, not copied: models can carry a memory
   * bank or coreset points of hundreds of MB.
   */
  async load(name: string, model: Uint8Array | string): Promise<LoadedSession> {
    const owned =
      typeof model !== 'string' &&
      model.byteOffset === 0 &&
      model.byteLength === model.buffer.byteLength &&
      model.buffer instanceof ArrayBuffer;
    const reply = await this.request({ type: 'load', name, model, options: this.options }, owned ? [model.buffer as ArrayBuffer] : []);
    return {
      name,
      inputNames: reply.inputNames ?? [],
      outputNames: reply.outputNames ?? [],
      providers: reply.providers ?? [],
      fallbacks: reply.fallbacks ?? [],
    };
  }

  /**
   * Runs sessions in order; each step's outputs feed the next by name. Returns the last step's
   * outputs (only `outputs` when given) plus any earlier outputs listed in `keep`. Input
   * buffers are transferred to the worker: callers must not reuse them.
   */
  async run(chain: string | string[], feeds: TensorMap, opts: { keep?: string[]; outputs?: string[] } = {}): Promise<TensorMap> {
    const transfer = new Set<ArrayBuffer>();
    for (const t of Object.values(feeds)) if (t.data.buffer instanceof ArrayBuffer) transfer.add(t.data.buffer);
    const reply = await this.request({ type: 'run', chain: Array.isArray(chain) ? chain : [chain], feeds, ...opts }, [...transfer]);
    return reply.outputs ?? {};
  }

  async release(name: string): Promise<void> {
    await this.request({ type: 'release', name });
  }

  async close(): Promise<void> {
    this.failure ??= new Error('inference runtime closed');
    await this.worker.terminate();
  }
}
