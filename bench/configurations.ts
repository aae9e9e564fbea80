// Per-configuration benchmark (issue: performance): banks from 200 Magnetic Tile training images
// at 1 % and 10 % coreset for WRN50 (random-weight export), the fixture ResNet18 and the zoo
// MobileNetV2; fit time split into embedding and coreset, peak RSS, per-stage times of one
// frame, and `patchline run` on the first 108 good test images (folder source, default pipeline):
// steady-state frames/s, p50/p99 latency, CPU use. With `--reference DIR`, the same fit and
// prediction run through amazon-science/patchcore-inspection in the same process tree, and the
// ratios and the score/index agreement are reported.
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, statSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { basename, join } from 'node:path';
import { trainingImages } from '../src/io/dataset.js';
import { listImages } from '../src/io/image-files.js';
import { modelDir, preparedBackbonePath, resolveBackbone } from '../src/model/backbone.js';
import { InferenceRuntime } from '../src/model/inference-runtime.js';
import { asFloat, floatTensor, type Tensor, type TensorMap } from '../src/model/tensor.js';
import { DataType, encodeModel, GraphBuilder, valueInfo } from '../src/model/onnx-graph.js';
import { EMBEDDING_OUTPUT } from '../src/patchcore/embedding-head.js';
import { SCORER_OUTPUTS } from '../src/patchcore/scorer-graph.js';
import { KnnScorer } from '../src/patchcore/scorer.js';
import { readBank, writeBank } from '../src/patchcore/bank-file.js';
import { fitBank } from '../src/patchcore/fit.js';
import { selectCoresetOfPoints } from '../src/patchcore/coreset.js';
import { PatchCore } from '../src/patchcore/patchcore.js';
import type { ResultPayload } from '../src/publish/payload-schema.js';
import { loadBatch } from '../src/preprocess/batch.js';
import { exportedBackbone } from './exported-backbone.js';
import { quantizedBackbone } from './quantize.js';
import { referenceUnavailable, runReference, type ReferenceResult } from './reference.js';
import { median, percentile, type BenchRow } from './stats.js';

interface BackboneCase {
  name: string;
  /** The spec or .onnx, made on first use (export, quantization); undefined where it cannot be. */
  ref: () => string | undefined;
  layers: string[];
  /** torchvision constructor the reference builds after torch.manual_seed(0), if it can. */
  torchvision?: string;
}

export interface ConfigurationOptions {
  /** Checkout of amazon-science/patchcore-inspection to run side by side. */
  reference?: string;
  trainImages: number;
  testImages: number;
  shares: number[];
  /** Only the configurations whose name contains one of these (all when absent). */
  backbones?: string[];
  /** Each row as soon as it is measured. */
  onRow?: (r: BenchRow) => void;
}

const SHARED = process.env.PATCHLINE_SHARED_DIR ?? '../shared';
/** Frames per call in the stage timings: what `patchline run` uses by default on a CPU. */
const STAGE_BATCH = 1;
/** Interleaved repetitions of each stage's timing. */
const STAGE_REPEATS = 21;
/** The reference's batch size (its dataloader; larger batches do not help it on this CPU either). */
const REFERENCE_BATCH = 4;
/** The reference's greedy loop is timed on at most this many picks (it takes ~50 ms a pick on 156,800 points here). */
const REFERENCE_CORESET_PICKS = 1568;
/** Frames before steady state (warm-up, queue filling). */
const WARMUP = 8;

function cases(): BackboneCase[] {
  const fixture = join(SHARED, 'fixtures', 'reference', 'backbone', 'resnet18_l2l3_seed0.onnx');
  const wrn50 = () => exportedBackbone('wideresnet50');
  return [
    { name: 'WRN50 layer2+3', ref: wrn50, layers: ['layer2', 'layer3'], torchvision: 'wide_resnet50_2' },
    {
      // Against the reference's float WRN50: scores differ by the quantization (reported).
      name: 'WRN50 int8 layer2+3',
      ref: () => {
        const float = wrn50();
        return float && quantizedBackbone(float, ['layer2', 'layer3'], 'wideresnet50');
      },
      layers: ['layer2', 'layer3'],
      torchvision: 'wide_resnet50_2',
    },
    {
      name: 'ResNet18 (fixture)',
      ref: () => (existsSync(fixture) ? fixture : undefined),
      layers: ['layer2', 'layer3'],
      torchvision: 'resnet18',
    },
    { name: 'MobileNetV2 int8', ref: () => 'mobilenetv2', layers: ['features.6', 'features.13'] },
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

async function medianMs(times: number, fn: () => Promise<unknown> | unknown): Promise<number> {
  await fn();
  const xs: number[] = [];
  for (let i = 0; i < times; i++) {
    const t = performance.now();
    await fn();
    xs.push(performance.now() - t);
  }
  return median(xs);
}

/** A session that takes `inputs` and returns only their shapes: ends a chain without copying tensors out. */
function sink(inputs: string[]): Uint8Array {
  const g = new GraphBuilder();
  g.op('Shape', [inputs[0]!], {}, 'shape');
  return encodeModel(
    g.build({
      name: 'sink',
      inputs: inputs.map((n) => valueInfo(n, DataType.FLOAT)),
      outputs: [valueInfo('shape', DataType.INT64, ['rank'])],
    }),
  );
}

/** p10 and p90 of each directly timed stage, per bank. */
const spreads = new Map<string, [number, number]>();
const knnInfo = new Map<string, { differing: number; distanceDiff: number; open: number | undefined; queries: number }>();

/** Per-frame time of each stage for one batch of test images, each timed directly on its own input (median). */
async function stageTimes(bankPath: string, images: string[]): Promise<Record<string, number>> {
  const runtime = new InferenceRuntime();
  try {
    const bank = await readBank(bankPath);
    const m = bank.manifest;
    const model = await PatchCore.load(runtime, bank, resolveBackbone(m.backbone.ref, modelDir()));
    const [bb, head, scorer] = model.sessions;
    await runtime.load('sink/features', sink(model.embedder.headSpec.layers.map((l) => l.name)));
    await runtime.load('sink/embedding', sink([EMBEDDING_OUTPUT]));
    const load = () => loadBatch(images, m.input.resize, m.input.normalization);
    const batch = await load();
    const feed = () => ({ [model.embedder.inputName]: floatTensor(batch.data.slice(), batch.dims) });
    // Each stage timed on its own input (captured once), not as a difference of chain totals:
    // a difference of two noisy totals could come out negative. Repetitions interleave the
    // stages so the machine's noise hits them alike.
    const features = await runtime.run(bb!, feed());
    const embedding = await runtime.run([bb!, head!], feed());
    const copy = (t: TensorMap): TensorMap =>
      Object.fromEntries(Object.entries(t).map(([k, v]) => [k, { ...v, data: v.data.slice() } as Tensor]));
    const p = await model.predict(await load());
    const n = images.length;
    const stages: Record<string, () => Promise<unknown>> = {
      'decode + preprocess': load,
      backbone: () => runtime.run([bb!, 'sink/features'], feed()),
      head: () => runtime.run([head!, 'sink/embedding'], copy(features)),
      knn: () => runtime.run(scorer!, copy(embedding), { outputs: [SCORER_OUTPUTS.scores] }),
      'anomaly map': async () => {
        for (let i = 0; i < n; i++) p.map(i);
      },
    };
    const samples = new Map<string, number[]>(Object.keys(stages).map((k) => [k, []]));
    for (const f of Object.values(stages)) await f();
    for (let i = 0; i < STAGE_REPEATS; i++) {
      for (const [name, f] of Object.entries(stages)) {
        const t = performance.now();
        await f();
        samples.get(name)!.push((performance.now() - t) / n);
      }
    }
    const times: Record<string, number> = {};
    for (const [name, xs] of samples) {
      times[name] = median(xs);
      spreads.set(`${bankPath}/${name}`, [percentile(xs, 10), percentile(xs, 90)]);
    }

    // Exact kNN alone on this batch's embeddings: the form patchline picked vs the full product.
    const e = asFloat((await runtime.run([bb!, head!], feed()))[EMBEDDING_OUTPUT], EMBEDDING_OUTPUT).data;
    const picked = await KnnScorer.create(runtime, bank.rows, m.head.targetDim, m.scorer.k, 'knn/auto');
    const full = await KnnScorer.create(runtime, bank.rows, m.head.targetDim, m.scorer.k, 'knn/full', { form: 'full' });
    const a = await picked.score(e.slice());
    const b = await full.score(e.slice());
    const differing = a.indices.filter((v, i) => v !== b.indices[i]).length;
    // Differences at the scale of the product form's rounding: |q|^2 + max |x|^2.
    let maxNorm = 0;
    for (let r = 0; r < bank.rows.length / m.head.targetDim; r++) {
      let sum = 0;
      for (let d = 0; d < m.head.targetDim; d++) sum += bank.rows[r * m.head.targetDim + d]! ** 2;
      maxNorm = Math.max(maxNorm, sum);
    }
    let distanceDiff = 0;
    for (let i = 0; i < a.distances.length; i++) {
      const query = Math.floor(i / m.scorer.k);
      let qq = 0;
      for (let d = 0; d < m.head.targetDim; d++) qq += e[query * m.head.targetDim + d]! ** 2;
      distanceDiff = Math.max(distanceDiff, Math.abs(a.distances[i]! - b.distances[i]!) / (qq + maxNorm));
    }
    times['knn alone, patchline'] = (await medianMs(9, () => picked.score(e.slice()))) / n;
    times['knn alone, full product'] = (await medianMs(9, () => full.score(e.slice()))) / n;
    knnInfo.set(bankPath, { differing, distanceDiff, open: a.open, queries: a.scores.length });

    // The whole frame as one graph (maps of every frame included) against the staged sessions plus maps.
    times['staged sessions + every map'] =
      (await medianMs(9, async () => {
        const r = await model.predict(await load());
        for (let i = 0; i < n; i++) r.map(i);
      })) / n;
    try {
      const fused = await PatchCore.load(runtime, bank, resolveBackbone(m.backbone.ref, modelDir()), { prefix: 'fused', fused: true });
      times['fused graph (every map)'] = (await medianMs(9, async () => fused.predict(await load()))) / n;
    } catch (e) {
      process.stderr.write(`!!! fused graph not timed for ${bankPath}: ${(e as Error).message}\n`);
    }
    return times;
  } finally {
    await runtime.close();
  }
}

interface RunResult {
  results: ResultPayload[];
  peakMb: number;
  coresBusy: number;
}

/**
 * `patchline run` (the built CLI, in its own process so its peak RSS is its own) on a folder,
 * default pipeline settings, heat maps and metrics off, results to a JSON-lines file.
 */
function runCli(bank: string, folder: string, dir: string): RunResult {
  const config = join(dir, 'run.json');
  const resultsFile = join(dir, 'results.jsonl');
  writeFileSync(
    config,
    JSON.stringify({
      source: { type: 'folder', path: folder, watch: false },
      model: { bank, modelDir: modelDir() },
      pipeline: { queuePolicy: 'block' },
      mqtt: { heatmap: { enabled: false } },
      metrics: { enabled: false },
      output: { resultsFile },
    }),
  );
  const cli = new URL('../bin/patchline.js', import.meta.url).pathname;
  const r = spawnSync(process.execPath, [cli, 'run', '--config', config, '--quiet'], { encoding: 'utf8' });
  const stopped = /stopped: .*\(([\d.]+) cores busy\), peak RSS (\d+) MB/.exec(r.stderr);
  if (r.status !== 0 || !stopped) throw new Error(`patchline run failed (exit ${r.status}):\n${r.stderr.slice(-2000)}`);
  const results = readFileSync(resultsFile, 'utf8')
    .split('\n')
    .filter((l) => l)
    .map((l) => JSON.parse(l) as ResultPayload);
  return { results, coresBusy: Number(stopped[1]), peakMb: Number(stopped[2]) };
}

/** Backbone alone per frame (median of 15), on a fresh runtime: taken again right after a run. */
async function backboneOnlyMs(bankPath: string, images: string[]): Promise<number> {
  const runtime = new InferenceRuntime();
  try {
    const m = (await readBank(bankPath)).manifest;
    const backbone = resolveBackbone(m.backbone.ref, modelDir());
    const loaded = await runtime.load(
      'bb',
      preparedBackbonePath(
        backbone,
        m.backbone.layers.map((l) => l.name),
      ).path,
    );
    await runtime.load('sink', sink(m.backbone.layers.map((l) => l.name)));
    const batch = await loadBatch(images, m.input.resize, m.input.normalization);
    const ms = await medianMs(15, () =>
      runtime.run(['bb', 'sink'], { [loaded.inputNames[0]!]: floatTensor(batch.data.slice(), batch.dims) }),
    );
    return ms / images.length;
  } finally {
    await runtime.close();
  }
}

/** frames/s from the completion times of frames WARMUP.. (the same rule for both sides). */
function steadyFps(doneAt: number[]): number {
  return (doneAt.length - WARMUP) / (doneAt.at(-1)! - doneAt[WARMUP - 1]!);
}

export async function configurationBenchmark(opts: ConfigurationOptions): Promise<BenchRow[]> {
  const data = join(SHARED, 'datasets', 'magnetic-tile');
  if (!existsSync(data)) {
    process.stderr.write(`!!! ${data} is absent: configuration benchmarks skipped\n`);
    return [];
  }
  let reference = opts.reference;
  if (reference) {
    const why = referenceUnavailable(reference);
    if (why) {
      process.stderr.write(`!!! reference comparison skipped: ${why}\n`);
      reference = undefined;
    }
  } else {
    process.stderr.write(
      '!!! reference comparison skipped: no --reference DIR (a checkout of amazon-science/patchcore-inspection) given\n',
    );
  }
  const train = trainingImages(data).slice(0, opts.trainImages);
  // The test images go through a folder of links: `patchline run` reads a folder.
  const testFiles = listImages(join(data, 'test', 'good')).slice(0, opts.testImages);
  const testFolder = mkdtempSync(join(tmpdir(), 'patchline-bench-test-'));
  for (const f of testFiles) symlinkSync(f, join(testFolder, basename(f)));
  const rows: BenchRow[] = [];
  const row = (name: string, value: number, unit: string) => {
    rows.push({ name, value, unit });
    opts.onRow?.({ name, value, unit });
  };
  for (const c of cases()) {
    if (opts.backbones && !opts.backbones.some((b) => c.name.toLowerCase().includes(b.toLowerCase()))) continue;
    const ref = c.ref();
    if (!ref) continue;
    const backbone = resolveBackbone(ref, modelDir());
    const modelMb = statSync(preparedBackbonePath(backbone, c.layers).path).size / 2 ** 20;
    for (const share of opts.shares) {
      const dir = mkdtempSync(join(tmpdir(), 'patchline-bench-cfg-'));
      mkdirSync(dir, { recursive: true });
      const runtime = new InferenceRuntime();
      const head = { patchsize: 3, pretrainDim: 1024, targetDim: 1024 };
      const { value: fit, peakMb } = await withPeakRss(() =>
        fitBank(
          runtime,
          train,
          {
            backbone,
            backboneRef: ref,
            layers: c.layers,
            head,
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
      // Every training image is in the bank (as in the reference), so none is left to calibrate
      // on; the service refuses a bank without a threshold. A tiny one makes every frame
      // anomalous: the run then pays for regions and maps on every frame, as the runs before
      // this check did (an unset threshold counted as 0).
      const m = writeBank(bank, { ...fit.manifest, calibration: { ...fit.manifest.calibration, threshold: 1e-6 } }, fit.rows);
      const bankMb = (m.coreset.rows * m.head.targetDim * 4) / 2 ** 20;
      const label = `${c.name}, ${100 * share} % bank (${m.coreset.rows} rows)`;
      row(`${label}: fit embedding / coreset`, fit.timings.embedMs / 1000, `s / ${(fit.timings.coresetMs / 1000).toFixed(1)} s`);
      row(`${label}: fit peak RSS`, peakMb, 'MB');

      const stages = await stageTimes(bank, testFiles.slice(0, STAGE_BATCH));
      for (const [stage, ms] of Object.entries(stages)) {
        const spread = spreads.get(`${bank}/${stage}`);
        row(
          `${label}: stage ${stage} (batch ${STAGE_BATCH}, per frame)`,
          ms,
          spread ? `ms median of ${STAGE_REPEATS} (p10-p90 ${spread[0].toFixed(1)}-${spread[1].toFixed(1)})` : 'ms',
        );
      }
      const k = knnInfo.get(bank)!;
      row(
        `${label}: exact kNN, full product / patchline`,
        stages['knn alone, full product']! / stages['knn alone, patchline']!,
        `x (target >= 2 at 10 %); nearest distances vs the full product: max |difference| / (|q|^2 + max |x|^2) ${k.distanceDiff.toExponential(1)}, rows differing ${k.differing} of ${k.queries} (ties within rounding)${k.open === undefined ? '; full product used (bank below 1024 rows x 256 dims, or its variance too spread for the bound: knn-bound.ts)' : `; ${k.open} queries needed the full product`}`,
      );

      const run = runCli(bank, testFolder, dir);
      const fps = steadyFps(run.results.map((r) => Date.parse(r.published_at) / 1000));
      const frameMs = 1000 / fps;
      row(`${label}: run frames/s (steady, frames ${WARMUP + 1}-${run.results.length} of ${testFiles.length})`, fps, 'frames/s');
      // Backbone alone before (with the stage timings) and right after the run: their mean.
      const after = await backboneOnlyMs(bank, testFiles.slice(0, STAGE_BATCH));
      const backboneMs = (stages.backbone! + after) / 2;
      row(
        `${label}: frame time / backbone-only time`,
        frameMs / backboneMs,
        `ratio${share === 0.01 ? ' (target <= 1.25)' : ''}; backbone alone ${stages.backbone!.toFixed(1)} ms before the run, ${after.toFixed(1)} ms after`,
      );
      const steady = run.results.slice(WARMUP);
      for (const stage of ['total', 'queue', 'preprocess', 'inference', 'publish']) {
        const xs = steady.map((r) => r.latency_ms[stage] ?? NaN);
        row(`${label}: ${stage} latency p50 / p99`, median(xs), `ms (p99 ${percentile(xs, 99).toFixed(1)})`);
      }
      row(`${label}: run CPU busy`, run.coresBusy, 'cores of 2 (whole run, start-up included)');
      row(
        `${label}: run peak RSS`,
        run.peakMb,
        `MB; target bank ${bankMb.toFixed(0)} MB + model ${modelMb.toFixed(0)} MB + 400 MB = ${(bankMb + modelMb + 400).toFixed(0)} MB`,
      );
      const results = run.results;

      if (reference && c.torchvision) {
        let ref: ReferenceResult;
        try {
          ref = runReference(
            {
              repo: reference,
              torchvisionArch: c.torchvision,
              backboneSeed: 0,
              layers: c.layers,
              size: 224,
              patchsize: head.patchsize,
              pretrainDim: head.pretrainDim,
              targetDim: head.targetDim,
              k: 1,
              percentage: share,
              coresetSeed: 0,
              train,
              test: testFiles,
              batch: REFERENCE_BATCH,
              threads: 2,
              loaderWorkers: 1,
              coresetPicks: Math.min(fit.indices.length, REFERENCE_CORESET_PICKS),
            },
            m.coreset.inputRows,
            fit.indices,
          );
        } catch (e) {
          process.stderr.write(`!!! reference run for ${label} failed: ${(e as Error).message}\n`);
          continue;
        }
        const refFps = steadyFps(ref.doneAt);
        row(
          `${label}: reference frames/s (same images, batch ${REFERENCE_BATCH})`,
          refFps,
          `frames/s; patchline / reference = ${(fps / refFps).toFixed(2)} (target >= 2)`,
        );
        row(`${label}: reference fit embedding / coreset`, ref.embedSeconds, `s / ${ref.coresetSeconds.toFixed(1)} s`);
        const agreement = (ours: Int32Array) => {
          const first = ref.coresetIndices.findIndex((v, i) => v !== ours[i]);
          return first < 0 && ours.length === ref.coresetIndices.length
            ? `yes, all ${ours.length}`
            : `no: first difference at pick ${first} of ${ours.length}`;
        };
        row(
          `${label}: coreset of the whole fit vs the reference's`,
          ref.coresetIndices.length,
          `picks compared: ${agreement(fit.indices.subarray(0, ref.coresetIndices.length))} (the backbones' features differ by float rounding, torch vs onnxruntime)`,
        );
        // The greedy loop alone, on the reference's own projected points and start points.
        const cr = new InferenceRuntime();
        const t = performance.now();
        const picks = ref.coresetIndices.length;
        const points = ref.coresetPoints.length / 128;
        const same = await selectCoresetOfPoints(
          cr,
          ref.coresetPoints,
          { method: 'approximate', percentage: (picks + 0.5) / points, seed: 0 },
          { startIndices: ref.startIndices },
        );
        const oursS = (performance.now() - t) / 1000;
        await cr.close();
        const scope = picks < fit.indices.length ? `first ${picks} of ${fit.indices.length} picks` : `${picks} picks`;
        row(
          `${label}: coreset on identical points (${scope}): patchline`,
          oursS,
          `s; reference ${ref.coresetSeconds.toFixed(1)} s = ${(ref.coresetSeconds / oursS).toFixed(2)}x (target >= 2); indices identical: ${agreement(same)}`,
        );
        const ours = new Map(results.map((r) => [basename(r.position.file ?? ''), r.score]));
        let worst = 0;
        testFiles.forEach((file, i) => {
          const a = ours.get(basename(file));
          const b = ref.scores[i]!;
          worst = Math.max(worst, a === undefined ? Infinity : Math.abs(a - b) / Math.max(1e-12, Math.abs(b)));
        });
        row(
          `${label}: image scores vs the reference (same bank rows): max relative difference`,
          testFiles.length,
          `images; ${worst.toExponential(1)}`,
        );
      }
    }
  }
  return rows;
}
