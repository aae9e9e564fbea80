// Execution providers from the config, as onnxruntime takes them. TensorRT's settings (fp16,
// engine and timing caches, workspace, optimisation profiles) are provider options: onnxruntime
// ignores its ORT_TENSORRT_* environment variables whenever options are passed, and the stock
// Node binding passes only the device. deploy/jetson/build-onnxruntime.sh builds a binding that
// forwards every option and leaves a marker file beside it (`tensorrtOptionsForwarded`).
import { existsSync, readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { cacheDir } from './backbone.js';
import type { ProviderConfig } from './provider-fallback.js';

export type ProviderName = 'tensorrt' | 'cuda' | 'cpu';

export interface TensorRtSettings {
  fp16: boolean;
  engineCacheDir?: string;
  workspaceMb: number;
}

/** What deploy/jetson/build-onnxruntime.sh writes beside the binding it builds. */
export const BINDING_MARKER = 'patchline-binding.json';

export interface BindingInfo {
  version: string;
  /** The binding forwards TensorRT provider options (patched by build-onnxruntime.sh). */
  tensorrtOptionsForwarded: boolean;
}

/** The installed onnxruntime-node (or the package at `pkg`): its version, and whether it forwards TensorRT options. */
export function bindingInfo(pkg = createRequire(import.meta.url).resolve('onnxruntime-node/package.json')): BindingInfo {
  const version = String((JSON.parse(readFileSync(pkg, 'utf8')) as { version?: unknown }).version ?? '?');
  const marker = join(dirname(pkg), BINDING_MARKER);
  let forwarded = false;
  if (existsSync(marker)) {
    try {
      forwarded = (JSON.parse(readFileSync(marker, 'utf8')) as { tensorrtProviderOptions?: unknown }).tensorrtProviderOptions === true;
    } catch {
      forwarded = false;
    }
  }
  return { version, tensorrtOptionsForwarded: forwarded };
}

/** TensorRT provider options (all strings, as onnxruntime's provider options are). */
export function tensorRtOptions(trt: TensorRtSettings): Record<string, string> {
  const cache = trt.engineCacheDir ?? join(cacheDir(), 'tensorrt');
  return {
    trt_fp16_enable: trt.fp16 ? '1' : '0',
    trt_engine_cache_enable: '1',
    trt_engine_cache_path: cache,
    trt_timing_cache_enable: '1',
    trt_timing_cache_path: cache,
    trt_max_workspace_size: String(trt.workspaceMb * 2 ** 20),
  };
}

/** The configured providers as onnxruntime-node takes them, most preferred first. */
export function providerConfigs(providers: ProviderName[], trt: TensorRtSettings): ProviderConfig[] {
  return providers.map((p) =>
    p === 'tensorrt' ? { name: 'tensorrt', deviceId: 0, ...tensorRtOptions(trt) } : p === 'cuda' ? { name: 'cuda', deviceId: 0 } : 'cpu',
  );
}

/** An image input's shapes for 1..maxBatch images: one TensorRT engine serves full and partial batches. */
export interface ImageProfile {
  input: string;
  channels: number;
  height: number;
  width: number;
  maxBatch: number;
  /**
   * The graph holds QuantizeLinear/DequantizeLinear pairs: TensorRT wants its INT8 builder flag
   * for quantized networks that are not strongly typed (as the provider builds them); the scales
   * are in the graph, so no calibration table is read.
   */
  explicitInt8?: boolean;
}

/**
 * Providers for one session. `profile`: the session takes images (backbone, fused frame):
 * TensorRT gets explicit optimisation profiles, so partial batches never rebuild the engine.
 * Without one (head, kNN, maps: small, with data-dependent shapes) TensorRT is left out and
 * CUDA runs them.
 */
export function sessionProviders(base: ProviderConfig[], profile?: ImageProfile): ProviderConfig[] {
  return base.flatMap((p): ProviderConfig[] => {
    if (typeof p === 'string' || p.name !== 'tensorrt') return [p];
    if (!profile) return [];
    const shape = (n: number) => `${profile.input}:${n}x${profile.channels}x${profile.height}x${profile.width}`;
    return [
      {
        ...p,
        trt_profile_min_shapes: shape(1),
        trt_profile_opt_shapes: shape(profile.maxBatch),
        trt_profile_max_shapes: shape(profile.maxBatch),
        ...(profile.explicitInt8 ? { trt_int8_enable: '1', trt_int8_use_native_calibration_table: '0' } : {}),
      },
    ];
  });
}
