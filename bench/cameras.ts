// Three line-scan cameras over one web: one `patchline run` with `cameras` (one backbone, batches
// mixing the cameras) against three `patchline run` processes of one camera each, side by side
// in one run: tiles/s while all run, and peak RSS (the processes' own high-water marks, summed).
import { spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { modelDir } from '../src/model/backbone.js';
import type { BenchRow } from './stats.js';
import { webBank } from './streaming.js';

const BIN = resolve('bin', 'patchline.js');
const CAMERA_PX = 448;
const OVERLAP_PX = 64;

interface RunOutcome {
  /** Publish times (ms since the epoch) of every result, in order. */
  times: number[];
  peakRssMb: number;
}

/** One `patchline run` process on a config; its results file and its own peak RSS. */
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

/** Results a second while every process runs: from when each has published 5 until the first finishes. */
function tilesPerSecond(runs: RunOutcome[]): number {
  const from = Math.max(...runs.map((r) => r.times[4]!));
  const to = Math.min(...runs.map((r) => r.times.at(-1)!));
  const n = runs.reduce((sum, r) => sum + r.times.filter((t) => t > from && t <= to).length, 0);
  return n / ((to - from) / 1000);
}

export async function camerasBenchmark(lines = 9000): Promise<BenchRow[]> {
  const dir = mkdtempSync(join(tmpdir(), 'patchline-bench-cameras-'));
  const bank = (await webBank('mobilenetv2', ['features.6', 'features.13'], join(dir, 'bank'))).path;
  const common = {
    model: { bank, modelDir: modelDir() },
    pipeline: { queuePolicy: 'block' },
    metrics: { enabled: false },
    ui: { enabled: false },
    mqtt: { heatmap: { enabled: false } },
  };
  const web = (width: number) => ({ type: 'synthetic-web', width, linesPerChunk: 64, seed: 1, defectEvery: 700, lines });
  const one = await runService(
    {
      ...common,
      source: web(3 * (CAMERA_PX - OVERLAP_PX) + OVERLAP_PX),
      linescan: { mmPerLine: 0.1, mmPerPixel: 0.1 },
      cameras: [0, 1, 2].map((i) => ({ id: `cam${i + 1}`, offsetMm: (i * (CAMERA_PX - OVERLAP_PX)) / 10, widthPx: CAMERA_PX })),
    },
    dir,
    'one-process',
  );
  const three = await Promise.all(
    [1, 2, 3].map((i) => runService({ ...common, camera: `cam${i}`, source: web(CAMERA_PX) }, dir, `process-${i}`)),
  );
  const oneRate = tilesPerSecond([one]);
  const threeRate = tilesPerSecond(three);
  const threePeak = three.reduce((s, r) => s + r.peakRssMb, 0);
  const tiles = one.times.length;
  return [
    { name: `3 cameras in one process (${tiles} tiles of ${lines} lines): tiles/s`, value: oneRate, unit: 'tiles/s' },
    { name: '3 processes of one camera each, all running: tiles/s (sum)', value: threeRate, unit: 'tiles/s' },
    { name: 'one process / three processes: tiles/s', value: oneRate / threeRate, unit: 'ratio' },
    { name: '3 cameras in one process: peak RSS', value: one.peakRssMb, unit: 'MB' },
    { name: '3 processes: peak RSS (sum of the three)', value: threePeak, unit: `MB (${three.map((r) => r.peakRssMb).join(' + ')})` },
    { name: 'one process / three processes: peak RSS', value: one.peakRssMb / threePeak, unit: 'ratio' },
  ];
}
