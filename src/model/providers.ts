// Execution providers from the config: the preference list handed to onnxruntime, and the
// TensorRT settings. The Node binding passes only the device to TensorRT, so fp16, the engine
// cache and the workspace go through the TensorRT provider's documented environment variables,
// set before the inference worker starts.
import { join } from 'node:path';
import { cacheDir } from './backbone.js';

export type ProviderName = 'tensorrt' | 'cuda' | 'cpu';

export interface TensorRtSettings {
  fp16: boolean;
  engineCacheDir?: string;
  workspaceMb: number;
}

export function providerEnvironment(providers: ProviderName[], trt: TensorRtSettings): Record<string, string> {
  if (!providers.includes('tensorrt')) return {};
  return {
    ORT_TENSORRT_FP16_ENABLE: trt.fp16 ? '1' : '0',
    ORT_TENSORRT_ENGINE_CACHE_ENABLE: '1',
    ORT_TENSORRT_CACHE_PATH: trt.engineCacheDir ?? join(cacheDir(), 'tensorrt'),
    ORT_TENSORRT_MAX_WORKSPACE_SIZE: String(trt.workspaceMb * 1024 * 1024),
  };
}
