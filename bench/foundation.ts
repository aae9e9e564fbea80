// Foundation benchmarks: embedding head vs backbone time (WRN50 shapes) and the main event
// loop's worst delay while a WRN50 runs in the inference worker vs on the main thread.
import { monitorEventLoopDelay } from 'node:perf_hooks';
import * as ort from 'onnxruntime-node';
import { preparedBackbonePath, resolveBackbone } from '../src/model/backbone.js';
import { InferenceRuntime } from '../src/model/inference-runtime.js';
import { encodeModel } from '../src/model/onnx-graph.js';
import { floatTensor, type TensorMap } from '../src/model/tensor.js';
import { buildEmbeddingHead } from '../src/patchcore/embedding-head.js';
import { exportedBackbone } from './exported-backbone.js';
import { median, type BenchRow } from './stats.js';

function randomInput(n: number, size: number): Float32Array {
  const a = new Float32Array(n * 3 * size * size);
  for (let i = 0; i < a.length; i++) a[i] = Math.sin(i * 12.9898) * 1.5;
  return a;
}

export async function headVsBackbone(iterations: number): Promise<BenchRow[]> {
  const spec = exportedBackbone('wideresnet50');
  if (!spec) return [];
  const backbone = resolveBackbone(spec);
  const { path } = preparedBackbonePath(backbone, ['layer2', 'layer3']);
  const runtime = new InferenceRuntime();
  try {
    await runtime.load('bb', path);
    const head = buildEmbeddingHead({
      layers: [
        { name: 'layer2', channels: 512, height: 28, width: 28 },
        { name: 'layer3', channels: 1024, height: 14, width: 14 },
      ],
      patchsize: 3,
      pretrainDim: 1024,
      targetDim: 1024,
    });
    await runtime.load('head', encodeModel(head));
    const feed = (): TensorMap => ({ input: floatTensor(randomInput(1, 224), [1, 3, 224, 224]) });
    const features = await runtime.run('bb', feed());
    const copy = (): TensorMap =>
      Object.fromEntries(Object.entries(features).map(([k, t]) => [k, floatTensor(Float32Array.from(t.data as Float32Array), t.dims)]));
    for (let i = 0; i < 2; i++) {
      await runtime.run(['bb', 'head'], feed());
      await runtime.run('head', copy());
    }
    const bb: number[] = [];
    const hd: number[] = [];
    const chain: number[] = [];
    // Interleaved, so machine noise hits all three alike.
    for (let i = 0; i < iterations; i++) {
      let f = feed();
      let t = performance.now();
      await runtime.run('bb', f);
      bb.push(performance.now() - t);
      const c = copy();
      t = performance.now();
      await runtime.run('head', c);
      hd.push(performance.now() - t);
      f = feed();
      t = performance.now();
      await runtime.run(['bb', 'head'], f);
      chain.push(performance.now() - t);
    }
    const b = median(bb);
    const h = median(hd);
    const ch = median(chain);
    return [
      { name: 'WRN50 backbone (layer2+3, 1x224)', value: b, unit: 'ms (median)' },
      { name: 'embedding head alone (WRN50 shapes)', value: h, unit: 'ms (median)' },
      { name: 'backbone + head chained', value: ch, unit: 'ms (median)' },
      { name: 'head / backbone', value: h / b, unit: 'ratio' },
      { name: '(chain - backbone) / backbone', value: (ch - b) / b, unit: 'ratio' },
    ];
  } finally {
    await runtime.close();
  }
}

export async function eventLoopDelay(iterations: number): Promise<BenchRow[]> {
  const spec = exportedBackbone('wideresnet50');
  if (!spec) return [];
  const { path } = preparedBackbonePath(resolveBackbone(spec), ['layer2', 'layer3']);
  const measure = async (run: () => Promise<unknown>) => {
    const h = monitorEventLoopDelay({ resolution: 1 });
    // A timer that should fire every 5 ms, like an MQTT keepalive or a /metrics scrape would.
    let lateMax = 0;
    let last = performance.now();
    const timer = setInterval(() => {
      const now = performance.now();
      lateMax = Math.max(lateMax, now - last - 5);
      last = now;
    }, 5);
    h.enable();
    for (let i = 0; i < iterations; i++) await run();
    h.disable();
    clearInterval(timer);
    return { p99: h.percentile(99) / 1e6, max: h.max / 1e6, lateMax };
  };
  const runtime = new InferenceRuntime();
  let worker;
  try {
    await runtime.load('bb', path);
    await runtime.run('bb', { input: floatTensor(randomInput(1, 224), [1, 3, 224, 224]) });
    worker = await measure(() => runtime.run('bb', { input: floatTensor(randomInput(1, 224), [1, 3, 224, 224]) }));
  } finally {
    await runtime.close();
  }
  const session = await ort.InferenceSession.create(path, { graphOptimizationLevel: 'all' });
  const input = new ort.Tensor('float32', randomInput(1, 224), [1, 3, 224, 224]);
  await session.run({ input });
  const main = await measure(() => session.run({ input }));
  await session.release();
  return [
    { name: 'event-loop delay, WRN50 in worker: max', value: worker.max, unit: 'ms' },
    { name: 'event-loop delay, WRN50 in worker: p99', value: worker.p99, unit: 'ms' },
    { name: '5 ms timer lateness, WRN50 in worker: max', value: worker.lateMax, unit: 'ms' },
    { name: 'event-loop delay, WRN50 on main thread: max', value: main.max, unit: 'ms' },
    { name: '5 ms timer lateness, WRN50 on main thread: max', value: main.lateMax, unit: 'ms' },
  ];
}
