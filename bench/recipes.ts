// Teach / correct / switch benchmarks behind docs/BENCHMARKS.md and docs/ACCURACY.md:
// - bank add vs a full refit on Magnetic Tile: the good test tiles are split into a "line" half
//   (what the operator sees and reviews) and an evaluation half; the 20 highest-scoring line
//   tiles (every false alarm among them) are added to a 10 % bank; then the added tiles' scores
//   against the new threshold, image AUROC on the evaluation half + all defects before and
//   after, and the time of the add beside a full refit with the same 20 images;
// - recipe switch: time from the select-recipe command to the first result scored with the
//   other recipe's bank, on the synthetic web at full rate.
import { existsSync, mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import mqtt from 'mqtt';
import { defaultConfig } from '../src/config/load.js';
import { auroc } from '../src/eval/auc.js';
import { testSamples, trainingImages } from '../src/io/dataset.js';
import { modelDir, resolveBackbone } from '../src/model/backbone.js';
import { InferenceRuntime } from '../src/model/inference-runtime.js';
import { unsavedBank, type Bank } from '../src/patchcore/bank-file.js';
import { extendBank } from '../src/patchcore/extend-bank.js';
import { FIT_DEFAULTS, fitBank, forEachBatch, type FitOptions } from '../src/patchcore/fit.js';
import { PatchCore } from '../src/patchcore/patchcore.js';
import { loadBatch } from '../src/preprocess/batch.js';
import { importBank } from '../src/recipes/bank-operations.js';
import { BankStore } from '../src/recipes/bank-store.js';
import { InspectionService } from '../src/service/service.js';
import { freePort, Mosquitto } from '../test/helpers/mosquitto.js';
import { fitWebBank } from '../test/helpers/web-bank.js';
import { median, type BenchRow } from './stats.js';

const silent = { stage: () => ({ tick() {}, stop() {} }) };

export async function bankAddBenchmark(dataset: string, onRow: (r: BenchRow) => void): Promise<BenchRow[]> {
  const rows: BenchRow[] = [];
  const row = (name: string, value: number, unit: string) => {
    const r = { name, value, unit };
    rows.push(r);
    onRow(r);
  };
  if (!existsSync(dataset)) {
    process.stderr.write(`!!! ${dataset} is absent: bank add benchmark skipped\n`);
    return [];
  }
  const backbone = resolveBackbone('mobilenetv2', modelDir());
  const train = trainingImages(dataset);
  const test = testSamples(dataset);
  const good = test.filter((s) => s.label === 0);
  const line = good.filter((_, i) => i % 2 === 0);
  const evalSet = [...good.filter((_, i) => i % 2 === 1), ...test.filter((s) => s.label === 1)];
  // The best Magnetic Tile configuration of docs/ACCURACY.md.
  const fitOpts = (files: string[]): FitOptions => ({
    ...FIT_DEFAULTS,
    backbone,
    backboneRef: 'mobilenetv2',
    layers: ['features.13', 'features.16'],
    head: { patchsize: 3, pretrainDim: 256, targetDim: 512 },
    resize: { mode: 'exact', width: 224, height: 224 },
    coreset: { method: 'approximate', percentage: 0.1, seed: 0 },
    mapSigma: 16,
    folder: files === train ? dataset : 'train+added',
  });
  const runtime = new InferenceRuntime();
  try {
    const score = async (bank: Bank, paths: string[]) => {
      const model = await PatchCore.load(runtime, bank, backbone, `bench${Math.random()}`);
      const out = new Float64Array(paths.length);
      await forEachBatch(
        paths,
        8,
        (p) => loadBatch(p, bank.manifest.input.resize, bank.manifest.input.normalization),
        async (b, start) => out.set((await model.predict(b)).imageScores, start),
      );
      await model.release();
      return out;
    };
    const fitted = await fitBank(runtime, train, fitOpts(train), silent);
    const base = unsavedBank(fitted.manifest, fitted.rows);
    const t0 = base.manifest.calibration.threshold;
    const lineScores = await score(
      base,
      line.map((s) => s.path),
    );
    const order = Array.from(lineScores.keys()).sort((a, b) => lineScores[b]! - lineScores[a]!);
    const added = order.slice(0, 20).map((i) => line[i]!.path);
    const falseAlarms = order.filter((i) => lineScores[i]! >= t0).map((i) => line[i]!.path);
    const evalLabels = evalSet.map((s) => s.label);
    const aurocBefore = auroc(
      await score(
        base,
        evalSet.map((s) => s.path),
      ),
      evalLabels,
    );

    const a0 = performance.now();
    const ext = await extendBank(runtime, base, backbone, added, { batchSize: 8, folder: 'line' }, silent);
    const addSeconds = (performance.now() - a0) / 1000;
    const r0 = performance.now();
    await fitBank(runtime, [...train, ...added], fitOpts([...train, ...added]), silent);
    const refitSeconds = (performance.now() - r0) / 1000;

    const after = unsavedBank(ext.manifest, ext.rows);
    const t1 = after.manifest.calibration.threshold;
    const faAfter = await score(after, falseAlarms);
    const addedAfter = await score(after, added);
    const aurocAfter = auroc(
      await score(
        after,
        evalSet.map((s) => s.path),
      ),
      evalLabels,
    );
    row(`bank: ${base.manifest.coreset.rows} rows from ${base.manifest.training.bankImages} images, threshold`, t0, 'score');
    row(`good "line" tiles at or above it (false alarms), of ${line.length}`, falseAlarms.length, 'tiles');
    row(`after adding the 20 highest-scoring line tiles (${ext.added} rows): threshold (${ext.threshold.how})`, t1, 'score');
    row('false alarms still at or above the new threshold', faAfter.filter((s) => s >= t1).length, 'tiles');
    row('highest score of the 20 added tiles, after', Math.max(...addedAfter), 'score');
    row(`image AUROC on the other ${evalSet.length} test images, before`, aurocBefore, 'AUROC');
    row('image AUROC on the same images, after', aurocAfter, 'AUROC');
    row('image AUROC change', aurocAfter - aurocBefore, 'AUROC');
    row('bank add of 20 images (embed, continued coreset, recalibration)', addSeconds, 's');
    row(`full refit on the ${train.length} + 20 images`, refitSeconds, 's');
    row('bank add / full refit', addSeconds / refitSeconds, 'ratio');
  } finally {
    await runtime.close();
  }
  return rows;
}

export async function recipeSwitchBenchmark(switches = 10): Promise<BenchRow[]> {
  const dir = mkdtempSync(join(tmpdir(), 'patchline-bench-recipes-'));
  const stores: Record<string, BankStore> = {};
  for (const [name, coreset] of [
    ['a', 0.1],
    ['b', 0.05],
  ] as const) {
    stores[name] = BankStore.open(join(dir, name), { name, create: true });
    await importBank(stores[name], await fitWebBank(modelDir(), coreset), { actor: 'bench', activate: true });
  }
  const broker = await Mosquitto.start();
  const d = defaultConfig();
  let last = '';
  let firstWith: ((bank: string) => void) | undefined;
  const service = new InspectionService(
    {
      ...d,
      source: { type: 'synthetic-web', width: 448, linesPerChunk: 64, linesPerSecond: 0, seed: 1, defectEvery: 700, lines: 0 },
      model: { ...d.model, recipe: 'a', modelDir: modelDir() },
      recipes: { a: { store: stores.a!.dir, keep: 10 }, b: { store: stores.b!.dir, keep: 10 } },
      pipeline: { ...d.pipeline, queuePolicy: 'block' },
      mqtt: { ...d.mqtt, url: broker.url },
      metrics: { enabled: false, host: '127.0.0.1', port: await freePort() },
      ui: { ...d.ui, enabled: false },
    },
    () => {},
    (f) => {
      if (f.bankId !== last) firstWith?.(f.bankId);
      last = f.bankId;
    },
  );
  await service.start();
  const client = await mqtt.connectAsync(broker.url);
  const times: number[] = [];
  try {
    await new Promise((r) => setTimeout(r, 3000));
    for (let i = 0; i < switches; i++) {
      const to = i % 2 === 0 ? 'b' : 'a';
      const seen = new Promise<void>((resolve) => {
        firstWith = (bank) => {
          if (bank === `${to}@v1`) resolve();
        };
      });
      const t = performance.now();
      await client.publishAsync('patchline/line1/cam1/command', JSON.stringify({ command: 'select-recipe', recipe: to }));
      await seen;
      times.push(performance.now() - t);
      await new Promise((r) => setTimeout(r, 1000));
    }
  } finally {
    await client.endAsync();
    await service.stop();
    await broker.stop();
  }
  return [
    {
      name: `select-recipe command to the first result scored by the other recipe's bank, median of ${switches} switches`,
      value: median(times),
      unit: 'ms',
    },
    { name: 'the same, slowest', value: Math.max(...times), unit: 'ms' },
  ];
}
