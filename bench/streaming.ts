// Streaming benchmark: `patchline run` on the synthetic web (in-process broker, heat maps on),
// steady-state frames/s, per-stage p50/p99, CPU use (cores busy, of all), for MobileNetV2 and a
// WRN50-shaped export.
import { mkdtempSync } from 'node:fs';
import { cpus, tmpdir } from 'node:os';
import { join } from 'node:path';
import WebSocket from 'ws';
import { defaultConfig } from '../src/config/load.js';
import { modelDir, resolveBackbone } from '../src/model/backbone.js';
import type { ScoredFrame } from '../src/core/frame.js';
import type { BankManifest } from '../src/patchcore/bank-file.js';
import { InspectionService } from '../src/service/service.js';
import { fitWebBank } from '../src/demo/web-bank.js';
import { exportedBackbone } from './exported-backbone.js';
import { median, percentile, type BenchRow } from './stats.js';

/** A 1 % bank of the clean synthetic web for `backboneRef`. */
export async function webBank(backboneRef: string, layers: string[], dir: string): Promise<{ path: string; manifest: BankManifest }> {
  return fitWebBank({
    dir,
    backbone: resolveBackbone(backboneRef, modelDir()),
    backboneRef,
    layers,
    dim: 1024,
    coreset: 0.01,
    lines: 2240,
  });
}

/** The simulated camera of a streaming run: web width, lines per delivered chunk, sizes in mm. */
export interface WebCamera {
  width: number;
  linesPerChunk: number;
  mmPerPixel: number;
}

const DEMO_CAMERA: WebCamera = { width: 448, linesPerChunk: 64, mmPerPixel: 0 };

interface StreamRun {
  fps: number;
  cpu: number;
  /** Main-thread busy time over the run, ms (event-loop utilization times wall time). */
  mainBusyMs: number;
  results: { at: number; f: ScoredFrame }[];
}

/** One run of the service on the synthetic web; `pages` operator pages watch it (reading everything they get). */
export async function stream(
  bank: string,
  lines: number,
  pages = 0,
  camera = DEMO_CAMERA,
  batchSize: number | 'row' = 1,
): Promise<StreamRun> {
  const results: { at: number; f: ScoredFrame }[] = [];
  const d = defaultConfig();
  const config = {
    ...d,
    source: {
      type: 'synthetic-web' as const,
      width: camera.width,
      linesPerChunk: camera.linesPerChunk,
      linesPerSecond: 0,
      seed: 1,
      defectEvery: 700,
      lines,
    },
    linescan: { ...d.linescan, mmPerLine: camera.mmPerPixel, mmPerPixel: camera.mmPerPixel },
    model: { ...d.model, bank, modelDir: modelDir() },
    pipeline: { ...d.pipeline, queuePolicy: 'block' as const, batchSize },
    metrics: { enabled: false, host: '127.0.0.1', port: 0 },
    ui: { ...d.ui, enabled: pages > 0, port: 0, dataDir: mkdtempSync(join(tmpdir(), 'patchline-bench-ui-')) },
  };
  const service = new InspectionService(
    config,
    () => {},
    (f) => results.push({ at: performance.now(), f }),
  );
  await service.start();
  const clients = await Promise.all(
    Array.from({ length: pages }, async () => {
      const ws = new WebSocket(`${service.pageUrl!.replace('http', 'ws')}/live`);
      await new Promise((r) => ws.once('open', r));
      ws.on('message', () => undefined);
      return ws;
    }),
  );
  const cpu0 = process.cpuUsage();
  const elu0 = performance.eventLoopUtilization();
  const t0 = performance.now();
  await service.done();
  const wall = performance.now() - t0;
  const cpu = process.cpuUsage(cpu0);
  const elu = performance.eventLoopUtilization(elu0);
  for (const ws of clients) ws.terminate();
  await service.stop();
  // Steady state: from the 5th result to the last.
  const steady = results.slice(4);
  return {
    fps: (steady.length - 1) / ((steady.at(-1)!.at - steady[0]!.at) / 1000),
    cpu: (cpu.user + cpu.system) / 1000 / wall,
    mainBusyMs: elu.active,
    results,
  };
}

/** The operator page must not slow the pipeline: frames/s with 5 pages vs none, runs interleaved. */
export async function pagesBenchmark(): Promise<BenchRow[]> {
  const dir = mkdtempSync(join(tmpdir(), 'patchline-bench-pages-'));
  const bank = (await webBank('mobilenetv2', ['features.6', 'features.13'], join(dir, 'mobilenetv2'))).path;
  const none: number[] = [];
  const five: number[] = [];
  // 20000 lines (312 tiles, a few seconds a run): with 3000 (45 tiles) the steady state lasted
  // under a second and the pages' start (connecting, the first strip) set the ratio: 0.85-0.91.
  const lines = 20000;
  for (let i = 0; i < 3; i++) {
    none.push((await stream(bank, lines, 0)).fps);
    five.push((await stream(bank, lines, 5)).fps);
  }
  return [
    {
      name: 'MobileNetV2 int8, no operator page: frames/s (median of 3)',
      value: median(none),
      unit: `frames/s (${none.map((x) => x.toFixed(1)).join(', ')})`,
    },
    {
      name: 'MobileNetV2 int8, 5 pages connected: frames/s (median of 3)',
      value: median(five),
      unit: `frames/s (${five.map((x) => x.toFixed(1)).join(', ')})`,
    },
    { name: 'with 5 pages / without (target >= 0.95)', value: median(five) / median(none), unit: 'ratio' },
  ];
}

async function streamOnce(name: string, bank: string, lines: number): Promise<BenchRow[]> {
  const { fps, cpu, results } = await stream(bank, lines);
  const steady = results.slice(4);
  const rows: BenchRow[] = [
    { name: `${name}: frames/s (steady state, ${results.length} tiles of 224x224)`, value: fps, unit: 'frames/s' },
    { name: `${name}: CPU busy`, value: cpu, unit: `cores of ${cpus().length}` },
  ];
  for (const stage of ['queue', 'preprocess', 'inference', 'postprocess', 'publish', 'total']) {
    const xs = steady.map(({ f }) =>
      stage === 'total'
        ? f.latency.queue! + f.latency.preprocess! + f.latency.inference! + f.latency.postprocess! + f.latency.publish!
        : f.latency[stage]!,
    );
    rows.push({ name: `${name}: ${stage} p50 / p99`, value: median(xs), unit: `ms (p99 ${percentile(xs, 99).toFixed(1)})` });
  }
  return rows;
}

export async function streamingBenchmark(): Promise<BenchRow[]> {
  const dir = mkdtempSync(join(tmpdir(), 'patchline-bench-stream-'));
  const rows: BenchRow[] = [];
  const mobile = (await webBank('mobilenetv2', ['features.6', 'features.13'], join(dir, 'mobilenetv2'))).path;
  rows.push(...(await streamOnce('MobileNetV2 int8', mobile, 3000)));
  const wrn = exportedBackbone('wideresnet50');
  if (wrn)
    rows.push(...(await streamOnce('WRN50 (random weights)', (await webBank(wrn, ['layer2', 'layer3'], join(dir, 'wrn50'))).path, 1500)));
  return rows;
}
