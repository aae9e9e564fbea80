// Messages between InferenceRuntime (main thread) and inference-worker.
import type { TensorMap } from './tensor.js';

export interface SessionOptions {
  /** Threads onnxruntime uses inside one operator. */
  intraOpThreads: number;
  /** onnxruntime execution providers in order of preference, e.g. ['cpu']. */
  executionProviders: unknown[];
}

/** A preferred execution provider that could not be used, and why. */
export interface ProviderFallback {
  provider: string;
  reason: string;
}

export type WorkerRequest =
  | { id: number; type: 'load'; name: string; model: Uint8Array | string; options: SessionOptions }
  | { id: number; type: 'run'; chain: string[]; feeds: TensorMap; keep?: string[]; outputs?: string[] }
  | { id: number; type: 'release'; name: string };

export type WorkerReply =
  | {
      id: number;
      ok: true;
      inputNames?: string[];
      outputNames?: string[];
      outputs?: TensorMap;
      providers?: string[];
      fallbacks?: ProviderFallback[];
    }
  | { id: number; ok: false; error: string };
