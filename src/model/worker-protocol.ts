// Messages between InferenceRuntime (main thread) and inference-worker.
import type { ProviderConfig, ProviderFallback } from './provider-fallback.js';
import type { TensorMap } from './tensor.js';

export interface SessionOptions {
  /** Threads onnxruntime uses inside one operator. */
  intraOpThreads: number;
  /** onnxruntime execution providers in order of preference, e.g. ['cpu']. */
  executionProviders: ProviderConfig[];
}

export type WorkerRequest =
  | { type: 'load'; name: string; model: Uint8Array | string; options: SessionOptions }
  | { type: 'run'; chain: string[]; feeds: TensorMap; keep?: string[]; outputs?: string[] }
  | { type: 'release'; name: string }
  /** Releases every session: onnxruntime's native memory is freed before the worker ends. */
  | { type: 'release-all' };

export interface LoadResult {
  inputNames: string[];
  outputNames: string[];
  providers: string[];
  fallbacks: ProviderFallback[];
}
