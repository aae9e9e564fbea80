// Worker-thread side of the inference runtime: owns the onnxruntime sessions, so a 140 ms
// WRN50 forward pass never blocks the main event loop (MQTT keepalives, /metrics, timers).
// Sessions can be chained in one request (backbone -> head -> scorer) so intermediate feature
// maps never cross the thread boundary.
import { parentPort } from 'node:worker_threads';
import * as ort from 'onnxruntime-node';
import type { Tensor, TensorMap } from './tensor.js';
import { serveRequests } from '../core/worker-rpc.js';
import type { LoadResult, WorkerRequest } from './worker-protocol.js';

if (!parentPort) throw new Error('inference-worker must run as a worker thread');
const port = parentPort;
const sessions = new Map<string, ort.InferenceSession>();
let runs: Promise<unknown> = Promise.resolve();

function toOrt(t: Tensor): ort.Tensor {
  return new ort.Tensor(t.type, t.data, t.dims);
}

function fromOrt(t: ort.Tensor): Tensor {
  return { type: t.type as Tensor['type'], data: t.data as Tensor['data'], dims: [...t.dims] };
}

async function runChain(chain: string[], feeds: TensorMap, keep: string[], outputs?: string[]): Promise<TensorMap> {
  let current: TensorMap = feeds;
  const kept: TensorMap = {};
  for (const [step, name] of chain.entries()) {
    const session = sessions.get(name);
    if (!session) throw new Error(`no session named '${name}' is loaded`);
    const inputs: Record<string, ort.Tensor> = {};
    for (const input of session.inputNames) {
      const t = current[input] ?? feeds[input];
      if (!t)
        throw new Error(
          `session '${name}' needs input '${input}', which the previous step did not produce (have: ${Object.keys(current).join(', ')})`,
        );
      inputs[input] = toOrt(t);
    }
    const out = step === chain.length - 1 && outputs ? await session.run(inputs, outputs) : await session.run(inputs);
    current = {};
    for (const [k, v] of Object.entries(out)) {
      current[k] = fromOrt(v);
      if (keep.includes(k)) kept[k] = current[k]!;
    }
  }
  return { ...kept, ...current };
}

const providerName = (p: ort.InferenceSession.ExecutionProviderConfig) => (typeof p === 'string' ? p : p.name);

/**
 * Creates a session with the preferred providers, dropping each one this onnxruntime build or
 * machine cannot load (a CPU-only binary, a missing CUDA library) until one works; 'cpu' is
 * always last. Reports what was dropped and why.
 */
/** Providers that failed to load once: later sessions skip them (with the same reason). */
const unavailable = new Map<string, string>();

async function createWithFallback(model: Uint8Array | string, threads: number, wanted: ort.InferenceSession.ExecutionProviderConfig[]) {
  const all = wanted.some((p) => providerName(p) === 'cpu') ? [...wanted] : [...wanted, 'cpu'];
  const fallbacks = all
    .filter((p) => unavailable.has(providerName(p)))
    .map((p) => ({ provider: providerName(p), reason: unavailable.get(providerName(p))! }));
  let providers = all.filter((p) => !unavailable.has(providerName(p)));
  for (;;) {
    // No spin-waiting between operators: the main thread decodes and preprocesses the next
    // batch meanwhile, and spinning threads took its core (ResNet18 stream, 1 % bank:
    // 14.5-15.5 frames/s spinning, 19-21 not).
    const options: ort.InferenceSession.SessionOptions = {
      intraOpNumThreads: threads,
      interOpNumThreads: 1,
      graphOptimizationLevel: 'all',
      executionProviders: providers,
      extra: { session: { intra_op: { allow_spinning: '0' } } },
    };
    try {
      const session =
        typeof model === 'string' ? await ort.InferenceSession.create(model, options) : await ort.InferenceSession.create(model, options);
      return { session, providers: providers.map(providerName), fallbacks };
    } catch (e) {
      const message = (e as Error).message;
      const failed = /AppendExecutionProvider_(\w+)/.exec(message)?.[1]?.toLowerCase();
      const index = providers.findIndex((p) => providerName(p).toLowerCase() === failed);
      if (!failed || index < 0 || providerName(providers[index]!) === 'cpu') throw e;
      fallbacks.push({ provider: providerName(providers[index]!), reason: message.split('\n')[0]! });
      unavailable.set(providerName(providers[index]!), message.split('\n')[0]!);
      providers = providers.filter((_, i) => i !== index);
    }
  }
}

async function handle(msg: WorkerRequest & { id: number }): Promise<unknown> {
  switch (msg.type) {
    case 'load': {
      const old = sessions.get(msg.name);
      const { session, providers, fallbacks } = await createWithFallback(
        msg.model,
        msg.options.intraOpThreads,
        msg.options.executionProviders as ort.InferenceSession.ExecutionProviderConfig[],
      );
      sessions.set(msg.name, session);
      await old?.release();
      return { inputNames: [...session.inputNames], outputNames: [...session.outputNames], providers, fallbacks } satisfies LoadResult;
    }
    case 'run': {
      // One run at a time, in arrival order: a batch sent while the previous one runs waits
      // here (its preprocessing already done on the main thread) instead of splitting the cores.
      const run = runs.then(() => runChain(msg.chain, msg.feeds, msg.keep ?? [], msg.outputs));
      runs = run.catch(() => undefined);
      return run;
    }
    case 'release': {
      await sessions.get(msg.name)?.release();
      sessions.delete(msg.name);
      return undefined;
    }
  }
}

serveRequests(port, handle);
