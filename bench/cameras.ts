// Three line-scan cameras over one web: one `patchline run` with `cameras` (one backbone, batches
// mixing the cameras) against three `patchline run` processes of one camera each, side by side
// in one run: tiles/s while all run, and peak RSS (the processes' own high-water marks, summed).
import { spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { modelDir } from '../src/model/backbone.js';
import { median, percentile, type BenchRow } from './stats.js';
import { webBank } from './streaming.js';

const BIN = resolve('bin', 'patchline.js');
const CAMERA_PX = 448;
const OVERLAP_PX = 64;
const WINDOW_MS = 2000;
const ROUNDS = 3;

interface RunOutcome {
  /** Publish times (ms since the epoch) of every result, in order. */
  times: number[];
  peakRssMb: number;
}

/** One `patchline run` process on a config; its results file (its own: results files are appended to) and its peak RSS. */
function runService(config: object, dir: string, name: string): Promise<RunOutcome> {
  const file = join(dir, `${name}.json`);
  const results = join(dir, `${name}.jsonl`);
  writeFileSync(file, JSON.stringify({ ...config, output: { resultsFile: results } }));
  return new Promise((done, fail) => {
    const child = spawn(process.execPath, [BIN, 'run', '--config', file, '--quiet'], { stdio: ['ignore', 'ignore', 'pipe'] });
    let log = '';
    child.stderr.on('data', (b: Buffer) => (log += b.toString()));
    child.on('error', fail);
    child.on('exit', (code) => {
      const peak = /peak RSS (\d+) MB/.exec(log);
      if (code !== 0 || !peak) return fail(new Error(`${name}: patchline run exited with ${code}:\n${log.slice(-2000)}`));
      const times = readFileSync(results, 'utf8')
        .trim()
        .split('\n')
        .map((l) => Date.parse((JSON.parse(l) as { published_at: string }).published_at));
      done({ times, peakRssMb: Number(peak[1]) });
    });
  });
}

/**
 * Results a second in 2-s windows while every process runs: from when each has published 5
 * until the first finishes (a run's start and its last tiles are not the steady rate).
 */
function windowRates(runs: RunOutcome[]): number[] {
  const from = Math.max(...runs.map((r) => r.times[4]!));
  const to = Math.min(...runs.map((r) => r.times.at(-1)!));
  const rates: number[] = [];
  for (let t = from; t + WINDOW_MS <= to; t += WINDOW_MS) {
    const n = runs.reduce((sum, r) => sum + r.times.filter((x) => x > t && x <= t + WINDOW_MS).length, 0);
    rates.push(n / (WINDOW_MS / 1000));
  }
  return rates;
}

export async function camerasBenchmark(lines = 20000): Promise<BenchRow[]> {
  const dir = mkdtempSync(join(tmpdir(), 'patchline-bench-cameras-'));
  const bank = (await webBank('mobilenetv2', ['features.6', 'features.13'], join(dir, 'bank'))).path;
  const common = (batchSize: number) => ({
    model: { bank, modelDir: modelDir() },
    pipeline: { queuePolicy: 'block', batchSize },
    metrics: { enabled: false },
    ui: { enabled: false },
    mqtt: { heatmap: { enabled: false } },
  });
  const web = (width: number) => ({ type: 'synthetic-web', width, linesPerChunk: 64, seed: 1, defectEvery: 700, lines });
  const oneProcess = (batchSize: number, round: number) =>
    runService(
      {
        ...common(batchSize),
        source: web(3 * (CAMERA_PX - OVERLAP_PX) + OVERLAP_PX),
        linescan: { mmPerLine: 0.1, mmPerPixel: 0.1 },
        cameras: [0, 1, 2].map((i) => ({ id: `cam${i + 1}`, offsetMm: (i * (CAMERA_PX - OVERLAP_PX)) / 10, widthPx: CAMERA_PX })),
      },
      dir,
      `one-process-b${batchSize}-r${round}`,
    );
  const threeProcesses = (batchSize: number, round: number) =>
    Promise.all(
      [1, 2, 3].map((i) =>
        runService({ ...common(batchSize), camera: `cam${i}`, source: web(CAMERA_PX) }, dir, `process-${i}-b${batchSize}-r${round}`),
      ),
    );
  // Batch 1 is the CPU default; batch 3 lets the one process run a tile of each camera together
  // (a lockstep web row), and gives each single-camera process the same batch size. Rounds
  // interleave the four set-ups so a slow spell of the machine does not fall on one of them.
  const sizes = [1, 3];
  const rates = new Map<string, number[]>();
  const peaks = new Map<string, number[]>();
  const add = (key: string, r: number[], peak: number) => {
    rates.set(key, [...(rates.get(key) ?? []), ...r]);
    peaks.set(key, [...(peaks.get(key) ?? []), peak]);
  };
  let tiles = 0;
  for (let round = 0; round < ROUNDS; round++) {
    for (const batchSize of sizes) {
      const one = await oneProcess(batchSize, round);
      tiles = one.times.length;
      add(`one ${batchSize}`, windowRates([one]), one.peakRssMb);
      const three = await threeProcesses(batchSize, round);
      add(
        `three ${batchSize}`,
        windowRates(three),
        three.reduce((sum, r) => sum + r.peakRssMb, 0),
      );
    }
  }
  const spread = (xs: number[]) => `p10-p90 ${percentile(xs, 10).toFixed(1)}-${percentile(xs, 90).toFixed(1)}, ${xs.length} windows of 2 s`;
  const rows: BenchRow[] = [];
  for (const batchSize of sizes) {
    const one = rates.get(`one ${batchSize}`)!;
    const three = rates.get(`three ${batchSize}`)!;
    rows.push(
      {
        name: `batch ${batchSize}: 3 cameras in one process (${tiles} tiles a run): tiles/s, median`,
        value: median(one),
        unit: `tiles/s (${spread(one)})`,
      },
      {
        name: `batch ${batchSize}: 3 processes of one camera each, all running: tiles/s summed, median`,
        value: median(three),
        unit: `tiles/s (${spread(three)})`,
      },
      { name: `batch ${batchSize}: one process / three processes: tiles/s`, value: median(one) / median(three), unit: 'ratio' },
      {
        name: `batch ${batchSize}: 3 cameras in one process: peak RSS, largest of ${ROUNDS} runs`,
        value: Math.max(...peaks.get(`one ${batchSize}`)!),
        unit: 'MB',
      },
      {
        name: `batch ${batchSize}: 3 processes: peak RSS summed, largest of ${ROUNDS} runs`,
        value: Math.max(...peaks.get(`three ${batchSize}`)!),
        unit: 'MB',
      },
      {
        name: `batch ${batchSize}: one process / three processes: peak RSS`,
        value: Math.max(...peaks.get(`one ${batchSize}`)!) / Math.max(...peaks.get(`three ${batchSize}`)!),
        unit: 'ratio',
      },
    );
  }
  return rows;
}
