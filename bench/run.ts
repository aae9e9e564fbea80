// `npm run bench`: every benchmark section, printed as Markdown tables with the command, commit
// and machine, ready for docs/BENCHMARKS.md. Numbers are ratios measured side by side in one run.
import { execSync } from 'node:child_process';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { cpus, totalmem } from 'node:os';
import { eventLoopDelay, headVsBackbone } from './foundation.js';
import { formatRow, TABLE_HEAD, type BenchRow } from './stats.js';
import { pagesBenchmark, streamingBenchmark } from './streaming.js';
import { configurationBenchmark } from './configurations.js';
import { bankAddBenchmark, recipeSwitchBenchmark } from './recipes.js';
import { quantizeBenchmark } from './quantize.js';
import { lineScanBenchmark } from './linescan.js';
import { camerasBenchmark } from './cameras.js';

const SECTIONS: Record<string, (onRow: (r: BenchRow) => void) => Promise<BenchRow[]>> = {
  'Embedding head vs backbone (WRN50 layer2+3, 224 px, batch 1)': () => headVsBackbone(30),
  'Main event loop while a WRN50 runs (20 inferences)': () => eventLoopDelay(20),
  'Streaming: patchline run on the synthetic line-scan web (448 px wide, tiles 224x224, default pipeline: batch 1, 2 in flight)': () =>
    streamingBenchmark(),
  'Web speed in user units: a 4096-px line-scan camera at 0.1 mm/px, native and binned 2x, raw line chunks tiled at 224x224 with 32 px overlap':
    (onRow) => lineScanBenchmark(onRow),
  'Three line-scan cameras over one web: one process (cameras, one backbone, mixed batches) vs three processes (MobileNetV2 1 %, 448 px cameras)':
    () => camerasBenchmark(),
  'Operator page: streaming with 5 pages connected vs none (synthetic web, MobileNetV2)': () => pagesBenchmark(),
  'Configurations: banks from 200 Magnetic Tile images, patchline run on the good test tiles': (onRow) =>
    configurationBenchmark({ ...configurationOptions, onRow }),
  'Bank add vs full refit: Magnetic Tile, MobileNetV2 f13+f16, 10 % coreset, 20 reviewed good tiles added': (onRow) =>
    bankAddBenchmark(magneticTile, onRow),
  'Recipe switch: select-recipe command to the first result with the new bank (synthetic web, full rate, mosquitto)': () =>
    recipeSwitchBenchmark(),
  'int8 backbones: patchline model quantize (calibrated on 32 Magnetic Tile good images) vs the float graph, backbone only': (onRow) =>
    quantizeBenchmark(onRow),
};

const { values: args } = parseArgs({
  options: {
    only: { type: 'string' },
    reference: { type: 'string' },
    // Smaller configuration runs while developing; the documented table uses the defaults.
    'train-images': { type: 'string', default: '200' },
    'test-images': { type: 'string', default: '108' },
    shares: { type: 'string', default: '0.01,0.1' },
    backbones: { type: 'string' },
  },
});
const only = args.only;
const magneticTile = join(process.env.PATCHLINE_SHARED_DIR ?? '../shared', 'datasets', 'magnetic-tile');
const configurationOptions = {
  reference: args.reference,
  trainImages: Number(args['train-images']),
  testImages: Number(args['test-images']),
  shares: args.shares!.split(',').map(Number),
  ...(args.backbones ? { backbones: args.backbones.split(',') } : {}),
};
const commit = (() => {
  try {
    return execSync('git rev-parse --short HEAD', { encoding: 'utf8' }).trim();
  } catch {
    return 'unknown';
  }
})();
process.stdout.write(
  `# patchline benchmarks\n\ncommand: \`npm run bench${process.argv.length > 2 ? ` -- ${process.argv.slice(2).join(' ')}` : ''}\`, commit ${commit}, ${new Date().toISOString().slice(0, 10)}\n`,
);
process.stdout.write(
  `machine: ${cpus()[0]?.model ?? '?'} x ${cpus().length} threads, ${(totalmem() / 2 ** 30).toFixed(0)} GiB, Node ${process.version}\n`,
);
for (const [title, run] of Object.entries(SECTIONS)) {
  if (only && !title.toLowerCase().includes(only.toLowerCase())) continue;
  // Rows are printed as they are measured: a long run that fails late keeps what it measured.
  process.stdout.write(`\n## ${title}\n\n${TABLE_HEAD}\n`);
  let printed = 0;
  const rows = await run((r) => {
    process.stdout.write(`${formatRow(r)}\n`);
    printed++;
  });
  for (const r of rows.slice(printed)) process.stdout.write(`${formatRow(r)}\n`);
  if (rows.length === 0 && printed === 0) process.stdout.write('\n_skipped (see message above)_\n');
}
