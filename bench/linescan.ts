// Line-scan throughput in the user's units. A 4096-px line-scan camera at 0.1 mm/px delivers raw
// chunks of lines (no image decode); the service tiles them at the model size with the configured
// overlap. Measured at native resolution and binned 2x (2048 px at 0.2 mm/px: the same web, half
// the pixels each way): sustained lines/s and web speed in m/min on this box per backbone, the
// stage that limits it, and an estimate for a Jetson from the CPU-side costs measured here and a
// published GPU time.
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { SyntheticWeb } from '../src/linescan/synthetic-web.js';
import type { BankManifest } from '../src/patchcore/bank-file.js';
import { exportedBackbone } from './exported-backbone.js';
import { median, type BenchRow } from './stats.js';
import { stream, webBank, type WebCamera } from './streaming.js';

const CAMERAS: { label: string; camera: WebCamera }[] = [
  { label: '4096 px at 0.1 mm/px (native)', camera: { width: 4096, linesPerChunk: 128, mmPerPixel: 0.1 } },
  { label: '2048 px at 0.2 mm/px (binned 2x)', camera: { width: 2048, linesPerChunk: 64, mmPerPixel: 0.2 } },
];

/**
 * The Jetson estimate's published input: NVIDIA-AI-IOT/jetson_benchmarks (README, Jetson Xavier
 * NX, TensorRT INT8 on GPU + 2 DLA): ResNet-50 at 224x224, 824 images/s; ssd-mobilenet-v1, the
 * smallest network listed, 887 images/s. An Orin is faster than a Xavier NX, so this errs on the
 * slow side. GPU time is scaled from ResNet-50 by multiply-adds, and never taken below
 * ssd-mobilenet-v1's: small networks do not get faster in proportion on a GPU.
 */
const RESNET50_GPU_MS = 1000 / 824;
const SMALLEST_GPU_MS = 1000 / 887;
const RESNET50_GFLOP = 4.09;
/** torchvision's published multiply-add counts at 224x224 (GFLOP), for the whole network. */
const BACKBONE_GFLOP: Record<string, number> = { mobilenetv2: 0.3, wideresnet50: 11.4 };
/** Assumed: one Cortex-A78AE core does this box's per-tile CPU work at half the speed. */
const JETSON_CPU_SLOWDOWN = 2;

interface Measured {
  tilesPerSecond: number;
  linesPerSecond: number;
  tilesPerRow: number;
  rowStride: number;
  /** p50 latency per tile of the pipeline's stages (a batch's time shared by its tiles). */
  stages: Record<string, number>;
  /** Main-thread busy time per tile over the whole run (tiling, scheduling, publishing, and the simulated camera). */
  mainMsPerTile: number;
}

async function measure(bank: string, camera: WebCamera, tileRows: number, batchSize: number | 'row' = 1): Promise<Measured> {
  // One more row than measured: the first row warms up (and the steady window starts after it).
  const lines = (tileRows + 1) * 192 + 32;
  const { results, mainBusyMs } = await stream(bank, lines, 0, camera, batchSize);
  const rows = new Map<number, number>();
  for (const { f } of results) rows.set(f.position.tileRow!, f.position.line!);
  const tilesPerRow = results.filter(({ f }) => f.position.tileRow === 0).length;
  const rowStride = (rows.get(1) ?? NaN) - (rows.get(0) ?? NaN);
  const steady = results.filter(({ f }) => f.position.tileRow! >= 1);
  const seconds = (steady.at(-1)!.at - steady[0]!.at) / 1000;
  const tilesPerSecond = (steady.length - 1) / seconds;
  const stages: Record<string, number> = {};
  for (const stage of ['preprocess', 'inference', 'postprocess']) stages[stage] = median(steady.map(({ f }) => f.latency[stage]!));
  return {
    tilesPerSecond,
    linesPerSecond: (tilesPerSecond / tilesPerRow) * rowStride,
    tilesPerRow,
    rowStride,
    stages,
    mainMsPerTile: mainBusyMs / results.length,
  };
}

const ROW_BATCH_ROUNDS = 3;

/** One inference call per web row (pipeline.batchSize 'row') against one tile a call, in interleaved runs. */
async function rowBatches(bank: string, camera: WebCamera, tileRows: number, name: string): Promise<BenchRow[]> {
  const one: Measured[] = [];
  const row: Measured[] = [];
  for (let round = 0; round < ROW_BATCH_ROUNDS; round++) {
    one.push(await measure(bank, camera, tileRows, 1));
    row.push(await measure(bank, camera, tileRows, 'row'));
  }
  const rate = (ms: Measured[]) => median(ms.map((m) => m.tilesPerSecond));
  const main = (ms: Measured[]) => median(ms.map((m) => m.mainMsPerTile));
  const list = (ms: Measured[]) => ms.map((m) => m.tilesPerSecond.toFixed(1)).join(', ');
  const what = `batch 'row' (${row[0]!.tilesPerRow} tiles a call) / batch 1`;
  return [
    {
      name: `${name}: ${what}: tiles/s, medians of ${ROW_BATCH_ROUNDS} interleaved runs`,
      value: rate(row) / rate(one),
      unit: `ratio ('row' ${rate(row).toFixed(1)} tiles/s: ${list(row)}; batch 1 ${rate(one).toFixed(1)}: ${list(one)})`,
    },
    {
      name: `${name}: ${what}: main thread busy per tile`,
      value: main(row) / main(one),
      unit: `ratio ('row' ${main(row).toFixed(2)} ms, batch 1 ${main(one).toFixed(2)} ms)`,
    },
  ];
}

/** The simulated camera's own work per tile (rendering the web on the main thread): a real camera's driver hands over a buffer. */
function renderMsPerTile(camera: WebCamera, rowStride: number, tilesPerRow: number): number {
  const web = new SyntheticWeb({ width: camera.width, seed: 1, defectEvery: 700 });
  const times: number[] = [];
  for (let i = 0; i < 5; i++) {
    const t0 = performance.now();
    web.render(i * rowStride, rowStride);
    times.push(performance.now() - t0);
  }
  return median(times) / tilesPerRow;
}

function jetsonEstimate(
  arch: string,
  manifest: BankManifest,
  m: Measured,
  renderMs: number,
): { gpuMs: number; cpuMs: number; tilesPerSecond: number } {
  const patches = manifest.grid.height * manifest.grid.width;
  const knnGflop = (2 * patches * manifest.coreset.rows * manifest.head.targetDim) / 1e9;
  const gpuMs = Math.max(SMALLEST_GPU_MS, (RESNET50_GPU_MS * (BACKBONE_GFLOP[arch]! + knnGflop)) / RESNET50_GFLOP);
  // The pixel worker and the main thread (less the simulated camera, whose place a driver's
  // buffer takes) work side by side: the busier of the two bounds the rate.
  const cpuMs = Math.max(m.stages.preprocess!, Math.max(0, m.mainMsPerTile - renderMs)) * JETSON_CPU_SLOWDOWN;
  return { gpuMs, cpuMs, tilesPerSecond: 1000 / Math.max(gpuMs, cpuMs) };
}

const mPerMin = (linesPerSecond: number, mmPerLine: number) => (linesPerSecond * mmPerLine * 60) / 1000;

export async function lineScanBenchmark(onRow: (r: BenchRow) => void): Promise<BenchRow[]> {
  const dir = mkdtempSync(join(tmpdir(), 'patchline-bench-linescan-'));
  const backbones: { arch: string; name: string; ref: string; layers: string[]; tileRows: number }[] = [
    { arch: 'mobilenetv2', name: 'MobileNetV2 int8', ref: 'mobilenetv2', layers: ['features.6', 'features.13'], tileRows: 8 },
  ];
  const wrn = exportedBackbone('wideresnet50');
  if (wrn) backbones.push({ arch: 'wideresnet50', name: 'WRN50 (random weights)', ref: wrn, layers: ['layer2', 'layer3'], tileRows: 2 });
  const rows: BenchRow[] = [];
  const row = (r: BenchRow) => {
    rows.push(r);
    onRow(r);
  };
  for (const b of backbones) {
    const bank = await webBank(b.ref, b.layers, join(dir, b.arch));
    for (const { label, camera } of CAMERAS) {
      const m = await measure(bank.path, camera, b.tileRows);
      const name = `${b.name}, ${label}`;
      const render = renderMsPerTile(camera, m.rowStride, m.tilesPerRow);
      row({
        name: `${name}: tiles of 224x224 per web row / lines per tile row`,
        value: m.tilesPerRow,
        unit: `tiles (${m.rowStride} lines a row)`,
      });
      row({ name: `${name}: tiles/s (steady, from the 2nd tile row)`, value: m.tilesPerSecond, unit: 'tiles/s' });
      row({ name: `${name}: sustained lines/s`, value: m.linesPerSecond, unit: 'lines/s' });
      row({
        name: `${name}: web speed`,
        value: mPerMin(m.linesPerSecond, camera.mmPerPixel),
        unit: `m/min at ${camera.mmPerPixel} mm per line`,
      });
      const perTile: [string, number, string][] = [
        ['main thread busy, all of it (tiling, scheduling, publishing, simulated camera)', m.mainMsPerTile, 'ms per tile, mean'],
        ['of which the simulated camera renders the web', render, 'ms per tile, median'],
        ['preprocess (pixel worker)', m.stages.preprocess!, 'ms per tile, p50 latency'],
        ['inference: backbone + head + kNN (inference worker)', m.stages.inference!, 'ms per tile, p50 latency (2 batches in flight)'],
        ['postprocess: maps and regions', m.stages.postprocess!, 'ms per tile, p50 latency'],
      ];
      for (const [stage, ms, unit] of perTile) row({ name: `${name}: ${stage}`, value: ms, unit });
      row({ name: `${name}: main thread busy at that rate`, value: (m.mainMsPerTile * m.tilesPerSecond) / 10, unit: '%' });
      const [limit] = perTile.filter(([stage]) => !stage.startsWith('of which')).sort((a, b) => b[1] - a[1])[0]!;
      row({ name: `${name}: limiting stage: ${limit}`, value: 1000 / m.tilesPerSecond, unit: 'ms per tile, all stages overlapped' });
      const j = jetsonEstimate(b.arch, bank.manifest, m, render);
      const jLines = (j.tilesPerSecond / m.tilesPerRow) * m.rowStride;
      if (b.arch === 'mobilenetv2' && camera.width === 4096) for (const r of await rowBatches(bank.path, camera, b.tileRows, name)) row(r);
      row({
        name: `${name}: ESTIMATE for a Jetson (GPU ${j.gpuMs.toFixed(2)} ms/tile: backbone + kNN scaled from published Xavier NX times; CPU ${j.cpuMs.toFixed(1)} ms/tile: this box's busier CPU thread x ${JETSON_CPU_SLOWDOWN})`,
        value: mPerMin(jLines, camera.mmPerPixel),
        unit: `m/min (${jLines.toFixed(0)} lines/s; limited by the ${j.gpuMs >= j.cpuMs ? 'GPU' : 'CPU'})`,
      });
    }
  }
  return rows;
}
