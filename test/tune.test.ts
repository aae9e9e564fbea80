// `patchline tune`: the choice among candidates (Pareto front, recommendation under a floor),
// the search space, and on synthtex with the real MobileNetV2: a tune within a tiny budget whose
// recommended recipe `fit` + `eval` reproduce, interruption and resume, refusals, the plot.
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { cpSync, existsSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import { resolveBackbone, type ResolvedBackbone } from '../src/model/backbone.js';
import { InferenceRuntime } from '../src/model/inference-runtime.js';
import { trainingImages } from '../src/io/dataset.js';
import { loadOpenCV } from '../src/preprocess/opencv.js';
import { bankVariant, fitRecipe } from '../src/tune/measure.js';
import { paretoFront, recommend, type CandidateResult } from '../src/tune/pareto.js';
import { plotLayout, ticks } from '../src/tune/plot.js';
import { estimateMs } from '../src/tune/search.js';
import {
  alongAxis,
  baseRecipe,
  defaultLayerSets,
  defaultSearchSpace,
  parseResize,
  wholeImageSize,
  type EmbeddingRecipe,
} from '../src/tune/search-space.js';
import { runCli } from './helpers/cli.js';
import { PROJECT_ROOT, REFERENCE_DIR, SHARED_DIR, sharedPath } from './helpers/shared.js';

const out = mkdtempSync(join(tmpdir(), 'patchline-tune-'));
const cache = join(out, 'cache');
const cli = (...args: string[]) => runCli(cache, args);
const SYNTHTEX = join(REFERENCE_DIR, 'e2e', 'mvtec', 'synthtex');
const MODELS = join(SHARED_DIR, 'models');

const recipe: EmbeddingRecipe = {
  layers: ['features.6', 'features.13'],
  resize: { mode: 'exact', width: 224, height: 224 },
  head: { patchsize: 3, pretrainDim: 256, targetDim: 512 },
};

function candidate(id: string, image: number, pixel: number | null, fps: number): CandidateResult {
  return {
    id,
    embedding: recipe,
    variant: { coreset: 0.1, k: 1, sigma: 4 },
    accuracy: { image_auroc: image, pixel_auroc: pixel, aupro: null },
    fps,
    bankRows: 100,
    fitSeconds: 1,
  };
}

describe('tune: choosing among candidates', () => {
  const a = candidate('a slow accurate', 0.95, 0.8, 10);
  const b = candidate('b middle', 0.93, 0.8, 30);
  const c = candidate('c fast', 0.9, 0.7, 60);
  const d = candidate('d dominated', 0.92, 0.8, 20);
  const e = candidate('e as accurate as a within 0.0005, faster', 0.9504, 0.8001, 15);

  test('the Pareto front holds no candidate that a faster one matches; fastest first', () => {
    assert.deepEqual(
      paretoFront([a, b, c, d], 'image_auroc').map((r) => r.id),
      ['c fast', 'b middle', 'a slow accurate'],
    );
  });

  test('differences under half a thousandth are ties: the faster candidate wins and the slower leaves the front', () => {
    assert.equal(recommend([a, b, c, e], 'image_auroc')!.chosen.id, e.id);
    assert.ok(!paretoFront([a, b, c, e], 'image_auroc').includes(a));
  });

  test('under a frame-rate floor: the most accurate fast enough; none fast enough: the fastest, flagged', () => {
    assert.equal(recommend([a, b, c, d], 'image_auroc', 25)!.chosen.id, 'b middle');
    const none = recommend([a, b, c], 'image_auroc', 100)!;
    assert.equal(none.chosen.id, 'c fast');
    assert.equal(none.belowFloor, true);
    assert.equal(recommend([], 'image_auroc'), undefined);
  });

  test('a pixel metric falls back to image AUROC where no mask exists, then ties go to the next metric', () => {
    const noMask = candidate('no masks', 0.99, null, 5);
    assert.equal(recommend([noMask, a], 'pixel_auroc')!.chosen.id, 'no masks');
    const samePixel = candidate('same pixel, better image', 0.97, 0.8, 10);
    assert.equal(recommend([a, samePixel], 'pixel_auroc')!.chosen.id, samePixel.id);
  });

  test('the plot layout puts every candidate inside the axes; ticks are round', () => {
    const layout = plotLayout([a, b, c, d], 'image_auroc', 25);
    for (const r of [a, b, c, d]) {
      const p = layout.toPixel(r.fps, r.accuracy.image_auroc);
      assert.ok(p.x > 0 && p.x < layout.width && p.y > 0 && p.y < layout.height, `${r.id} at ${p.x},${p.y}`);
    }
    assert.ok(layout.x.max >= 60 && layout.y.min < 0.9 && layout.y.max > 0.95);
    assert.deepEqual(ticks(0, 70), [0, 20, 40, 60]);
    assert.deepEqual(ticks(0.88, 0.96), [0.88, 0.9, 0.92, 0.94, 0.96]);
  });
});

describe('tune: the search space', () => {
  test('input geometries parse with errors naming the text; elongated images keep their aspect', () => {
    assert.deepEqual(parseResize('256/224'), { mode: 'shorter-side', resize: 256, crop: 224 });
    assert.deepEqual(parseResize('448x320'), { mode: 'exact', width: 448, height: 320 });
    assert.throws(() => parseResize('224/256'), /'224\/256': the crop must be positive and at most the resize/);
    assert.throws(() => parseResize('big'), /'big': expected RESIZE\/CROP/);
    assert.deepEqual(wholeImageSize(224, 1.2), { mode: 'exact', width: 224, height: 224 });
    assert.deepEqual(wholeImageSize(224, 3), { mode: 'exact', width: 672, height: 224 });
    assert.deepEqual(wholeImageSize(320, 0.25), { mode: 'exact', width: 320, height: 1280 });
  });

  test('layer sets: the catalogue list, else the defaults and neighbouring pairs of different stride', () => {
    const mobilenet = resolveBackbone('mobilenetv2', MODELS);
    assert.deepEqual(defaultLayerSets(mobilenet)[0], ['features.6', 'features.13']);
    const custom: ResolvedBackbone = {
      onnxPath: '/x.onnx',
      spec: {
        name: 'wrn',
        onnx: '/x.onnx',
        normalization: mobilenet.spec.normalization,
        layers: { layer1: { tensor: 'a', stride: 4 }, layer2: { tensor: 'b', stride: 8 }, layer3: { tensor: 'c', stride: 16 } },
        defaultLayers: ['layer2', 'layer3'],
      },
    };
    assert.deepEqual(defaultLayerSets(custom), [
      ['layer2', 'layer3'],
      ['layer1', 'layer2'],
    ]);
  });

  test('the time estimate: embedding and scoring grow with pixels, the coreset with patches squared times the share', () => {
    const measured = { pixels: 1000, stride: 8, rows: 100, share: 0.1, embedMs: 10, coresetMs: 20, scoreMs: 30, groups: 3 };
    const variants = [0.01, 0.1].map((coreset) => ({ coreset, k: 1, sigma: 4 }));
    assert.equal(estimateMs(measured, { pixels: 1000, stride: 8, missing: variants }), 10 + 20 + 20);
    // Twice the pixels at the same stride: twice the patches, four times the coreset.
    assert.equal(estimateMs(measured, { pixels: 2000, stride: 8, missing: variants }), 20 + 80 + 40);
    // A coarser first layer: a quarter of the patches.
    assert.equal(estimateMs(measured, { pixels: 1000, stride: 16, missing: variants.slice(0, 1) }), 10 + 20 / 16 / 10 + 10);
  });

  test('the search starts at fit defaults and moves one axis at a time', () => {
    const space = defaultSearchSpace(resolveBackbone('mobilenetv2', MODELS), 1);
    const base = baseRecipe(space);
    assert.deepEqual(base.resize, { mode: 'shorter-side', resize: 256, crop: 224 });
    assert.deepEqual([base.head.pretrainDim, base.head.targetDim], [1024, 1024]);
    const sizes = alongAxis(space, base, 'resize');
    assert.equal(sizes.length, 3);
    assert.ok(sizes.every((r) => r.layers === base.layers && r.head === base.head));
  });
});

describe('tune on synthtex (MobileNetV2)', () => {
  // A copy of synthtex's test folder: a validation folder that is not the dataset's test folder.
  const validation = join(out, 'val', 'test');
  cpSync(join(SYNTHTEX, 'test'), validation, { recursive: true });
  cpSync(join(SYNTHTEX, 'ground_truth'), join(out, 'val', 'ground_truth'), { recursive: true });
  const space = [
    '--sizes',
    '256/224,224x224',
    '--layer-sets',
    'features.6,features.13',
    '--dims',
    '256/512',
    '--coreset',
    '0.1,0.5',
    '--sigma',
    '4,8',
  ];
  const common = ['--data', SYNTHTEX, '--validation', validation, '--model-dir', MODELS, ...space];

  test('a smaller coreset share is a prefix of a larger one: one fit serves every share', async (t) => {
    if (!sharedPath(t, 'models', 'mobilenetv2-12-int8.onnx')) return;
    const runtime = new InferenceRuntime({ intraOpThreads: 2 });
    const quiet = { stage: () => ({ tick() {}, stop() {} }) };
    const settings = {
      backbone: resolveBackbone('mobilenetv2', MODELS),
      backboneRef: 'mobilenetv2',
      training: trainingImages(SYNTHTEX),
      data: SYNTHTEX,
      holdout: 0.1,
      seed: 0,
    };
    try {
      const large = await fitRecipe(runtime, settings, recipe, { coreset: 0.5, k: 1, sigma: 4 }, quiet);
      const small = await fitRecipe(runtime, settings, recipe, { coreset: 0.1, k: 1, sigma: 4 }, quiet);
      const cut = bankVariant(large, { coreset: 0.1, k: 3, sigma: 8 });
      assert.equal(cut.manifest.coreset.rows, small.manifest.coreset.rows);
      assert.deepEqual(cut.rows, small.rows);
      assert.deepEqual(cut.manifest.scorer, { k: 3, mapSigma: 8 });
    } finally {
      await runtime.close();
    }
  });

  test('a tiny budget gives a recommended recipe that fit + eval reproduce, a report, a PNG plot and a bank run accepts', async (t) => {
    if (!sharedPath(t, 'models', 'mobilenetv2-12-int8.onnx')) return;
    const dir = join(out, 'tiny');
    const r = cli('tune', ...common, '--budget', '0.05', '--out', dir);
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stderr, /with fewer than 20 the differences between recipes are mostly chance/);
    assert.match(r.stderr, /left out, about/, 'the budget stops the search after the first recipe');
    assert.match(r.stdout, /recommended: features\.6\+features\.13 @256\/224/);
    const rec = JSON.parse(readFileSync(join(dir, 'recommended.json'), 'utf8')) as {
      candidate: CandidateResult;
      fitArgs: string[];
      seeds: { seed: number; accuracy: CandidateResult['accuracy'] }[];
    };
    assert.deepEqual(
      rec.seeds.map((s) => s.seed),
      [0, 1],
    );
    const report = readFileSync(join(dir, 'report.md'), 'utf8');
    assert.match(report, /## Recommended recipe/);
    assert.match(report, /### Left out for lack of time\n\n- features\.6\+features\.13 @224x224/);
    const cv = await loadOpenCV();
    const png = cv.imread(join(dir, 'pareto.png'));
    assert.deepEqual([png.cols, png.rows], [900, 560]);
    assert.match(readFileSync(join(dir, 'recipe.yaml'), 'utf8'), /model:\n {2}bank: ".*recommended\.bank"/);

    // The recipe through the ordinary commands: the same numbers.
    const bank = join(dir, 'refit.bank');
    const fit = cli(...rec.fitArgs, '--model-dir', MODELS, '--out', bank);
    assert.equal(fit.code, 0, fit.stderr);
    const json = join(dir, 'eval.json');
    const ev = cli('eval', '--bank', bank, '--data', validation, '--json', json, '--model-dir', MODELS);
    assert.equal(ev.code, 0, ev.stderr);
    const evaluated = JSON.parse(readFileSync(json, 'utf8')) as { image_auroc: number; pixel_auroc: number; aupro: number };
    const reported = rec.candidate.accuracy;
    assert.ok(
      Math.abs(evaluated.image_auroc - reported.image_auroc) < 1e-9,
      `image AUROC ${evaluated.image_auroc} vs ${reported.image_auroc}`,
    );
    assert.ok(
      Math.abs(evaluated.pixel_auroc - reported.pixel_auroc!) < 1e-9,
      `pixel AUROC ${evaluated.pixel_auroc} vs ${reported.pixel_auroc}`,
    );
    assert.ok(Math.abs(evaluated.aupro - reported.aupro!) < 1e-9, `AUPRO ${evaluated.aupro} vs ${reported.aupro}`);
    assert.deepEqual(rec.seeds[0]!.accuracy, reported, 'the written bank (seed 0) scores as the search measured');

    // `run` takes the recipe file unchanged (the source and ports set on the command line).
    const results = join(dir, 'results.jsonl');
    const run = cli(
      'run',
      '--config',
      join(dir, 'recipe.yaml'),
      '--quiet',
      '--set',
      'source.type=folder',
      '--set',
      `source.path=${join(validation, 'good')}`,
      '--set',
      `output.resultsFile=${results}`,
      '--set',
      'metrics.port=0',
      '--set',
      'ui.port=0',
      '--set',
      `model.modelDir=${MODELS}`,
    );
    assert.equal(run.code, 0, run.stderr);
    assert.equal(readFileSync(results, 'utf8').trim().split('\n').length, 4, 'one result per good validation image');
  });

  test('an interrupted tune resumes: finished candidates are kept, not measured again', async (t) => {
    if (!sharedPath(t, 'models', 'mobilenetv2-12-int8.onnx')) return;
    const dir = join(out, 'resume');
    const args = [join(PROJECT_ROOT, 'src', 'cli', 'main.ts'), 'tune', ...common, '--budget', '30', '--out', dir];
    const first = spawn(process.execPath, ['--import', 'tsx', ...args], {
      cwd: PROJECT_ROOT,
      env: { ...process.env, PATCHLINE_CACHE_DIR: cache },
    });
    const log = join(dir, 'candidates.jsonl');
    const exited = new Promise<number | null>((r) => first.once('exit', (c) => r(c)));
    const deadline = Date.now() + 120_000;
    while (!(existsSync(log) && readFileSync(log, 'utf8').split('\n').filter(Boolean).length >= 4) && Date.now() < deadline)
      await new Promise((r) => setTimeout(r, 100));
    first.kill('SIGKILL');
    await exited;
    const before = readFileSync(log, 'utf8').split('\n').filter(Boolean);
    assert.ok(before.length >= 4 && before.length < 8, `killed after the first recipe: ${before.length} candidates`);
    writeFileSync(log, `${before.join('\n')}\n{"id": "cut off by the kil`);

    const second = cli('tune', ...common, '--budget', '30', '--out', dir);
    assert.equal(second.code, 0, second.stderr);
    assert.match(second.stderr, /1 unreadable line\(s\) in .*candidates\.jsonl ignored/);
    assert.match(second.stderr, new RegExp(`resuming with ${before.length} candidate\\(s\\)`));
    assert.match(second.stderr, /features\.6\+features\.13 @256\/224 d256\/512 p3: measured before/);
    const after = readFileSync(log, 'utf8')
      .split('\n')
      .filter((l) => l.startsWith('{"id":"'))
      .map((l) => (JSON.parse(l) as CandidateResult).id);
    assert.equal(after.length, 8, 'two recipes x two shares x two sigmas');
    assert.equal(new Set(after).size, 8, 'no candidate measured twice');
  });

  test('refusals: validation = test folder, validation = --test, results of another validation folder, bad values', (t) => {
    if (!sharedPath(t, 'models', 'mobilenetv2-12-int8.onnx')) return;
    const cases: [string[], RegExp][] = [
      [['--validation', SYNTHTEX], /--validation .* is the test folder of --data .*: split off a validation folder/],
      [['--validation', join(SYNTHTEX, 'test')], /is the test folder of --data/],
      [['--validation', validation, '--test', join(out, 'val')], /--validation and --test are the same folder/],
      [['--validation', validation, '--metric', 'f1'], /--metric must be one of image_auroc, pixel_auroc, aupro, got 'f1'/],
      [['--validation', validation, '--sizes', '224/256'], /--sizes: '224\/256': the crop must be positive/],
      [['--validation', validation, '--layer-sets', 'features.99'], /--layer-sets: the backbone has no layer 'features\.99'/],
      [['--validation', validation, '--coreset', '0,0.1'], /--coreset must list shares in \(0, 1\], got '0,0\.1'/],
      [['--validation', validation, '--holdout', '0'], /--holdout must be > 0/],
    ];
    for (const [args, why] of cases) {
      const r = cli('tune', '--data', SYNTHTEX, '--model-dir', MODELS, '--out', join(out, 'refused'), ...args);
      assert.equal(r.code, 2, `${args.join(' ')} -> ${r.code}: ${r.stderr}`);
      assert.match(r.stderr, why, args.join(' '));
    }
    // Results measured on one validation folder are not mixed with another's.
    const other = join(out, 'other-val', 'test');
    cpSync(validation, other, { recursive: true });
    const r = cli('tune', '--data', SYNTHTEX, '--validation', other, '--model-dir', MODELS, '--out', join(out, 'tiny'), ...space);
    assert.equal(r.code, 2, r.stderr);
    assert.match(
      r.stderr,
      /tune\.json: the results in .* were measured with validation ".*val\/test", not ".*other-val\/test"; use another --out, or --fresh/,
    );
  });
});
