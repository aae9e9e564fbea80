// Per-configuration benchmark (issue: performance): banks from 200 Magnetic Tile training images
// at 1 % and 10 % coreset for WRN50 (random-weight export), the fixture ResNet18 and the zoo
// MobileNetV2; fit time split into embedding and coreset, peak RSS, backbone-only time per frame,
// and `patchline run` on 100 test images (folder source, batch 4): steady-state frames/s,
// per-stage p50/p99, frame time against backbone-only time.
import { existsSync, mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { defaultConfig } from '../src/config/load.js';
import { testSamples, trainingImages } from '../src/io/dataset.js';
import { modelDir, preparedBackbonePath, resolveBackbone } from '../src/model/backbone.js';
import { InferenceRuntime } from '../src/model/inference-runtime.js';
import { floatTensor } from '../src/model/tensor.js';
import { writeBank } from '../src/patchcore/bank-file.js';
import { fitBank } from '../src/patchcore/fit.js';
import type { ScoredFrame } from '../src/pipeline/frame.js';
import { InspectionService } from '../src/service/service.js';
import { exportedBackbone } from './exported-backbone.js';
import { median, percentile, type BenchRow } from './stats.js';

interface BackboneCase {
  name: string;
  ref: string | undefined;
  layers: string[];
}

const SHARED = process.env.PATCHLINE_SHARED_DIR ?? '../shared';

function cases(): BackboneCase[] {
  const fixture = join(SHARED, 'fixtures', 'reference', 'backbone', 'resnet18_l2l3_seed0.onnx');
  return [
    { name: 'WRN50 layer2+3', ref: exportedBackbone('wideresnet50'), layers: ['layer2', 'layer3'] },
    { name: 'ResNet18 (fixture)', ref: existsSync(fixture) ? fixture : undefined, layers: ['layer2', 'layer3'] },
    { name: 'MobileNetV2 int8', ref: 'mobilenetv2', layers: ['features.6', 'features.13'] },
  ];
}

/** Peak RSS while `fn` runs, sampled every 20 ms (the process includes the inference worker). */
async function withPeakRss<T>(fn: () => Promise<T>): Promise<{ value: T; peakMb: number }> {
  let peak = process.memoryUsage.rss();
  const timer = setInterval(() => (peak = Math.max(peak, process.memoryUsage.rss())), 20);
  try {
    const value = await fn();
    return { value, peakMb: Math.max(peak, process.memoryUsage.rss()) / 2 ** 20 };
  } finally {
    clearInterval(timer);
  }
}

async function backboneOnlyMs(ref: string, layers: string[]): Promise<number> {
  const runtime = new InferenceRuntime();
  try {
    const { path } = preparedBackbonePath(resolveBackbone(ref, modelDir()), layers);
    const loaded = await runtime.load('bb', path);
    const feed = () => ({ [loaded.inputNames[0]!]: floatTensor(new Float32Array(4 * 3 * 224 * 224).fill(0.1), [4, 3, 224, 224]) });
    await runtime.run('bb', feed());
    const times: number[] = [];
    for (let i = 0; i < 8; i++) {
      const t = performance.now();
      await runtime.run('bb', feed());
      times.push((performance.now() - t) / 4);
    }
    return median(times);
  } finally {
    await runtime.close();
  }
}

export async function configurationBenchmark(): Promise<BenchRow[]> {
  const data = join(SHARED, 'datasets', 'magnetic-tile');
  if (!existsSync(data)) {
    process.stderr.write(`!!! ${data} is absent: configuration benchmarks skipped\n`);
    return [];
  }
  const train = trainingImages(data).slice(0, 200);
  const test = testSamples(data);
  const testFolder = join(data, 'test', 'good');
  const rows: BenchRow[] = [];
  for (const c of cases()) {
    if (!c.ref) continue;
    const backbone = resolveBackbone(c.ref, modelDir());
    const bbMs = await backboneOnlyMs(c.ref, c.layers);
    rows.push({ name: `${c.name}: backbone only, per frame (batch 4)`, value: bbMs, unit: 'ms' });
    for (const share of [0.01, 0.1]) {
      const dir = mkdtempSync(join(tmpdir(), 'patchline-bench-cfg-'));
      const runtime = new InferenceRuntime();
      const { value: fit, peakMb } = await withPeakRss(() =>
        fitBank(
          runtime,
          train,
          {
            backbone,
            backboneRef: c.ref!,
            layers: c.layers,
            head: { patchsize: 3, pretrainDim: 1024, targetDim: 1024 },
            resize: { mode: 'exact', width: 224, height: 224 },
            coreset: { method: 'approximate', percentage: share, seed: 0 },
            k: 1,
            mapSigma: 4,
            holdout: 0,
            calibration: { quantile: 0.99, margin: 0.1 },
            batchSize: 8,
            folder: data,
          },
          { stage: () => ({ tick() {}, stop() {} }) },
        ),
      );
      await runtime.close();
      const bank = join(dir, 'bank');
      const m = writeBank(bank, fit.manifest, fit.rows);
      const label = `${c.name}, ${100 * share} % bank (${m.coreset.rows} rows)`;
      rows.push({ name: `${label}: fit embedding / coreset`, value: fit.timings.embedMs / 1000, unit: `s / ${(fit.timings.coresetMs / 1000).toFixed(1)} s` });
      rows.push({ name: `${label}: fit peak RSS`, value: peakMb, unit: 'MB' });
      const results: { at: number; f: ScoredFrame }[] = [];
      const base = defaultConfig();
      const service = new InspectionService(
        {
          ...base,
          source: { type: 'folder', path: testFolder, watch: false, pollMs: 500 },
          model: { ...base.model, bank, modelDir: modelDir() },
          pipeline: { ...base.pipeline, queuePolicy: 'block' },
          mqtt: { ...base.mqtt, heatmap: { ...base.mqtt.heatmap, enabled: false } },
          metrics: { ...base.metrics, enabled: false },
        },
        () => {},
        (f) => results.push({ at: performance.now(), f }),
      );
      const { peakMb: runPeak } = await withPeakRss(async () => {
        await service.start();
        await service.done();
        await service.stop();
      });
      const steady = results.slice(8, 108);
      const fps = (steady.length - 1) / ((steady.at(-1)!.at - steady[0]!.at) / 1000);
      const frameMs = 1000 / fps;
      rows.push({ name: `${label}: run frames/s (steady, ${steady.length} of ${test.filter((s) => s.label === 0).length} good test tiles)`, value: fps, unit: 'frames/s' });
      rows.push({ name: `${label}: frame time / backbone-only time`, value: frameMs / bbMs, unit: 'ratio (target <= 1.25 at 1 %)' });
      for (const stage of ['preprocess', 'inference', 'postprocess']) {
        const xs = steady.map(({ f }) => f.latency[stage]!);
        rows.push({ name: `${label}: ${stage} p50 / p99`, value: median(xs), unit: `ms (p99 ${percentile(xs, 99).toFixed(1)})` });
      }
      rows.push({ name: `${label}: run peak RSS`, value: runPeak, unit: `MB (bank ${((m.coreset.rows * 1024 * 4) / 2 ** 20).toFixed(0)} MB)` });
    }
  }
  return rows;
}
