// Execution providers: the fallback never reads error text, drops what the build lacks before
// trying, drops a failing accelerator and retries, and reports what runs; TensorRT gets its
// settings as provider options, with optimisation profiles on image inputs only.
import assert from 'node:assert/strict';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import { InferenceRuntime } from '../src/model/inference-runtime.js';
import { DataType, encodeModel, GraphBuilder, valueInfo } from '../src/model/onnx-graph.js';
import { createWithFallback, providerName, type ProviderConfig } from '../src/model/provider-fallback.js';
import { BINDING_MARKER, bindingInfo, providerConfigs, sessionProviders } from '../src/model/providers.js';

const trt = { fp16: true, engineCacheDir: '/var/cache/patchline/tensorrt', workspaceMb: 512 };

describe('execution providers', () => {
  test('a provider this build lacks is dropped before anything is tried (CPU-only arm64 package)', async () => {
    const tried: string[][] = [];
    const r = await createWithFallback(providerConfigs(['tensorrt', 'cuda', 'cpu'], trt), new Set(['cpu']), async (p) => {
      tried.push(p.map(providerName));
      return 'session';
    });
    assert.deepEqual(tried, [['cpu']]);
    assert.deepEqual(r.providers, ['cpu']);
    assert.deepEqual(
      r.fallbacks.map((f) => f.provider),
      ['tensorrt', 'cuda'],
    );
    assert.match(r.fallbacks[0]!.reason, /not in this onnxruntime build \(it has: cpu\)/);
  });

  test('a provider that fails at session creation is dropped and creation retried, whatever the error says', async () => {
    const tried: string[][] = [];
    const r = await createWithFallback(providerConfigs(['tensorrt', 'cuda'], trt), new Set(['cpu', 'cuda', 'tensorrt']), async (p) => {
      tried.push(p.map(providerName));
      if (p.some((x) => providerName(x) === 'tensorrt')) throw new Error('something unexpected in the TensorRT library\nsecond line');
      return 'session';
    });
    assert.deepEqual(tried, [
      ['tensorrt', 'cuda', 'cpu'],
      ['cuda', 'cpu'],
    ]);
    assert.deepEqual(r.providers, ['cuda', 'cpu']);
    assert.deepEqual(r.fallbacks, [{ provider: 'tensorrt', reason: 'something unexpected in the TensorRT library' }]);
    // When even the CPU fails, its error is the one reported.
    await assert.rejects(
      createWithFallback(['cuda'], undefined, async (p) => {
        throw new Error(p.length === 1 ? 'model is invalid' : 'cuda failed');
      }),
      /model is invalid/,
    );
  });

  test("on this CPU-only onnxruntime, TensorRT and CUDA are dropped at session creation and the session runs on 'cpu'", async () => {
    const runtime = new InferenceRuntime({ intraOpThreads: 1, executionProviders: providerConfigs(['tensorrt', 'cuda', 'cpu'], trt) });
    try {
      const g = new GraphBuilder();
      g.op('Relu', ['x'], {}, 'y');
      const model = encodeModel(
        g.build({ name: 'relu', inputs: [valueInfo('x', DataType.FLOAT, [2])], outputs: [valueInfo('y', DataType.FLOAT, [2])] }),
      );
      const loaded = await runtime.load('relu', model);
      assert.deepEqual(loaded.providers, ['cpu']);
      assert.deepEqual(
        loaded.fallbacks.map((f) => f.provider),
        ['tensorrt', 'cuda'],
      );
    } finally {
      await runtime.close();
    }
  });

  test('TensorRT settings are provider options; image inputs get profiles for 1..maxBatch, other sessions no TensorRT', () => {
    const base = providerConfigs(['tensorrt', 'cuda', 'cpu'], trt);
    const t = base[0] as Record<string, unknown>;
    assert.equal(t.name, 'tensorrt');
    assert.equal(t.trt_fp16_enable, '1');
    assert.equal(t.trt_engine_cache_enable, '1');
    assert.equal(t.trt_engine_cache_path, '/var/cache/patchline/tensorrt');
    assert.equal(t.trt_timing_cache_path, '/var/cache/patchline/tensorrt');
    assert.equal(t.trt_max_workspace_size, String(512 * 2 ** 20));
    for (const v of Object.values(t))
      if (typeof v !== 'number') assert.equal(typeof v, 'string', 'onnxruntime provider options are strings');
    const backbone = sessionProviders(base, { input: 'images', channels: 3, height: 224, width: 320, maxBatch: 4 });
    const p = backbone[0] as Record<string, unknown>;
    assert.equal(p.trt_profile_min_shapes, 'images:1x3x224x320');
    assert.equal(p.trt_profile_opt_shapes, 'images:4x3x224x320');
    assert.equal(p.trt_profile_max_shapes, 'images:4x3x224x320');
    assert.equal(p.trt_int8_enable, undefined, 'a float backbone builds without the INT8 flag');
    const qdq = sessionProviders(base, { input: 'images', channels: 3, height: 224, width: 320, maxBatch: 4, explicitInt8: true });
    assert.equal((qdq[0] as Record<string, unknown>).trt_int8_enable, '1', 'a QDQ backbone: explicit quantization needs the INT8 flag');
    assert.equal((qdq[0] as Record<string, unknown>).trt_int8_use_native_calibration_table, '0');
    assert.deepEqual(
      sessionProviders(base).map((x: ProviderConfig) => providerName(x)),
      ['cuda', 'cpu'],
    );
  });

  test('the binding marker written by build-onnxruntime.sh says whether TensorRT options are forwarded', () => {
    const dir = mkdtempSync(join(tmpdir(), 'patchline-binding-'));
    writeFileSync(join(dir, 'package.json'), JSON.stringify({ name: 'onnxruntime-node', version: '1.20.1' }));
    assert.deepEqual(bindingInfo(join(dir, 'package.json')), { version: '1.20.1', tensorrtOptionsForwarded: false });
    writeFileSync(join(dir, BINDING_MARKER), JSON.stringify({ tensorrtProviderOptions: true, onnxruntime: 'v1.20.1' }));
    assert.deepEqual(bindingInfo(join(dir, 'package.json')), { version: '1.20.1', tensorrtOptionsForwarded: true });
    assert.equal(bindingInfo().tensorrtOptionsForwarded, false, 'the npm package does not forward them');
  });
});
