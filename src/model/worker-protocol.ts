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
  | { type: 'load'; name: string; model: Uint8Array | string; options: SessionOptions }
  | { type: 'run'; chain: string[]; feeds: TensorMap; keep?: string[]; outputs?: string[] }
  | { type: 'release'; name: string };

export interface LoadResult {
  inputNames: string[];
  outputNames: string[];
  providers: string[];
  fallbacks: ProviderFallback[];
}
