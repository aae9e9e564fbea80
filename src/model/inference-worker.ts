// Worker-thread side of the inference runtime: owns the onnxruntime sessions, so a 140 ms
// WRN50 forward pass never blocks the main event loop (MQTT keepalives, /metrics, timers).
// Sessions can be chained in one request (backbone -> head -> scorer) so intermediate feature
// maps never cross the thread boundary.
import { parentPort } from 'node:worker_threads';
import * as ort from 'onnxruntime-node';
import type { Tensor, TensorMap } from './tensor.js';
import { serveRequests } from '../core/worker-rpc.js';
import { createWithFallback, type ProviderConfig } from './provider-fallback.js';
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

/** Providers compiled into this onnxruntime (undefined when the binding cannot say). */
const supported = (() => {
  const list = (ort as { listSupportedBackends?: () => { name: string }[] }).listSupportedBackends?.();
  return list ? new Set(list.map((b) => b.name)) : undefined;
})();

function createSession(model: Uint8Array | string, threads: number, wanted: ProviderConfig[]) {
  return createWithFallback(wanted, supported, (providers) => {
    // No spin-waiting between operators: the main thread decodes and preprocesses the next
    // batch meanwhile, and spinning threads took its core (ResNet18 stream, 1 % bank:
    // 14.5-15.5 frames/s spinning, 19-21 not).
    const options: ort.InferenceSession.SessionOptions = {
      intraOpNumThreads: threads,
      interOpNumThreads: 1,
      graphOptimizationLevel: 'all',
      executionProviders: providers as ort.InferenceSession.ExecutionProviderConfig[],
      extra: { session: { intra_op: { allow_spinning: '0' } } },
    };
    return typeof model === 'string' ? ort.InferenceSession.create(model, options) : ort.InferenceSession.create(model, options);
  });
}

async function handle(msg: WorkerRequest & { id: number }): Promise<unknown> {
  switch (msg.type) {
    case 'load': {
      const old = sessions.get(msg.name);
      const { session, providers, fallbacks } = await createSession(msg.model, msg.options.intraOpThreads, msg.options.executionProviders);
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
    case 'release-all': {
      await runs;
      for (const s of sessions.values()) await s.release();
      sessions.clear();
      return undefined;
    }
  }
}

serveRequests(port, handle);
