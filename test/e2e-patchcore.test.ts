// Full PatchCore on the reference's synthetic category: fit (IdentitySampler), predict, metrics,
// against the reference run with the same seeded ResNet18 (e2e/ fixtures), nn = 1 and 3.
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { testSamples, trainingImages } from '../src/io/dataset.js';
import { readNpyFloat32 } from '../src/io/npy.js';
import { resolveBackbone } from '../src/model/backbone.js';
import { InferenceRuntime } from '../src/model/inference-runtime.js';
import { computeMetrics, scoreSamples } from '../src/eval/evaluate.js';
import { fitBank } from '../src/patchcore/fit.js';
import { PatchCore } from '../src/patchcore/patchcore.js';
import { loadBatch } from '../src/preprocess/batch.js';
import { REFERENCE_RESIZE } from '../src/preprocess/transform.js';
import { assertClose } from './helpers/compare.js';
import { referenceFitArgs, runCli } from './helpers/cli.js';
import { useTestCache } from './helpers/cache.js';
import { REFERENCE_DIR, sharedPath } from './helpers/shared.js';

useTestCache();
const quiet = { stage: () => ({ tick() {}, stop() {} }) };

describe('e2e PatchCore vs reference (synthtex, seeded ResNet18)', () => {
  let runtime: InferenceRuntime;
  before(() => {
    runtime = new InferenceRuntime({ intraOpThreads: 2 });
  });
  after(() => runtime.close());

  for (const [k, pixelAuroc, anomalousAuroc, fused] of [
    [1, 0.895238526, 0.9062961846, false],
    [3, 0.8915634497, 0.9023676273, false],
    [1, 0.895238526, 0.9062961846, true],
  ] as const) {
    test(`nn${k}${fused ? ', one fused graph (backbone + head + kNN + maps)' : ''}: patch/image scores and maps within rtol 1e-4, image AUROC 0.8125, pixel AUROC within 1e-5`, async (t) => {
      const onnx = sharedPath(t, 'fixtures', 'reference', 'backbone', 'resnet18_l2l3_seed0.onnx');
      if (!onnx) return;
      const data = join(REFERENCE_DIR, 'e2e', 'mvtec', 'synthtex');
      const backbone = resolveBackbone(onnx);
      const fit = await fitBank(
        runtime,
        trainingImages(data),
        {
          backbone,
          backboneRef: onnx,
          layers: ['layer2', 'layer3'],
          head: { patchsize: 3, pretrainDim: 1024, targetDim: 1024 },
          resize: REFERENCE_RESIZE,
          coreset: { method: 'identity', percentage: 1, seed: 0 },
          k,
          mapSigma: 4,
          holdout: 0,
          calibration: { quantile: 0.99, margin: 0.1 },
          batchSize: 2,
          folder: data,
        },
        quiet,
      );
      assert.equal(fit.rows.length, 7840 * 1024);
      const bank = { manifest: { ...fit.manifest, format: 'patchline-bank' as const, version: 1, dataSha256: '' }, rows: fit.rows };
      const model = await PatchCore.load(runtime, bank, backbone, { fused });
      assert.equal(model.sessions.length, fused ? 1 : 3);
      const samples = testSamples(data);
      if (fused) {
        // The same batch through the staged sessions: the one graph must give their outputs.
        const staged = await PatchCore.load(runtime, bank, backbone, { prefix: 'staged' });
        const batch = await loadBatch(
          samples.slice(0, 4).map((s) => s.path),
          REFERENCE_RESIZE,
          bank.manifest.input.normalization,
        );
        const a = await staged.predict({ data: batch.data.slice(), dims: batch.dims });
        const b = await model.predict({ data: batch.data.slice(), dims: batch.dims });
        assertClose(b.patchScores, a.patchScores, { rtol: 1e-5 }, 'fused vs staged patch scores');
        assertClose(b.imageScores, a.imageScores, { rtol: 1e-5 }, 'fused vs staged image scores');
        for (let i = 0; i < 4; i++) assertClose(b.map(i), a.map(i), { rtol: 1e-5 }, `fused vs staged map ${i}`);
        // Staged sessions with the maps computed in the graph (what the service runs).
        const graphMaps = await PatchCore.load(runtime, bank, backbone, { prefix: 'graph-maps', maps: 'graph' });
        assert.equal(graphMaps.sessions.length, 4);
        const c = await graphMaps.predict({ data: batch.data.slice(), dims: batch.dims });
        assertClose(c.patchScores, a.patchScores, { rtol: 0 }, 'graph-map vs staged patch scores');
        assertClose(c.imageScores, a.imageScores, { rtol: 0 }, 'graph-map vs staged image scores');
        for (let i = 0; i < 4; i++) assertClose(c.map(i), a.map(i), { rtol: 1e-5 }, `graph maps vs reference-arithmetic map ${i}`);
        await graphMaps.release();
        await staged.release();
      }
      assert.deepEqual(
        samples.map((s) => `${s.defect}/${s.path.slice(-7)}`),
        [
          'blob/000.png',
          'blob/001.png',
          'good/000.png',
          'good/001.png',
          'good/002.png',
          'good/003.png',
          'scratch/000.png',
          'scratch/001.png',
        ],
      );
      const scored = await scoreSamples(model, samples, REFERENCE_RESIZE, 2, () => {});
      const dir = join(REFERENCE_DIR, 'e2e', `nn${k}`);
      assertClose(
        Float32Array.from(scored, (s) => s.score),
        readNpyFloat32(join(dir, 'image_scores.npy')).data,
        { rtol: 1e-4 },
        'image scores',
      );
      const maps = new Float32Array(8 * 224 * 224);
      scored.forEach((s, i) => maps.set(s.map, i * 224 * 224));
      const r = assertClose(maps, readNpyFloat32(join(dir, 'segmentations.npy')).data, { rtol: 1e-4 }, 'segmentations');
      t.diagnostic(`segmentation max |diff| ${r.maxAbs.toExponential(2)}`);
      const gt = readNpyFloat32(join(REFERENCE_DIR, 'e2e', 'gt_masks.npy')).data;
      scored.forEach((s, i) =>
        assert.deepEqual(
          Array.from(s.mask!),
          Array.from(gt.subarray(i * 224 * 224, (i + 1) * 224 * 224), (v) => (v === 1 ? 1 : 0)),
          `mask ${i}`,
        ),
      );
      const m = computeMetrics(scored, null, 224);
      assert.equal(m.image_auroc, 0.8125);
      assert.ok(Math.abs(m.pixel_auroc! - pixelAuroc) < 1e-5, `pixel AUROC ${m.pixel_auroc} vs ${pixelAuroc}`);
      assert.ok(
        Math.abs(m.pixel_auroc_anomalous! - anomalousAuroc) < 1e-5,
        `anomalous pixel AUROC ${m.pixel_auroc_anomalous} vs ${anomalousAuroc}`,
      );
      await model.release();
    });
  }

  test('CLI: patchline fit + eval on synthtex print image AUROC 0.8125 and pixel AUROC 0.8952', (t) => {
    const onnx = sharedPath(t, 'fixtures', 'reference', 'backbone', 'resnet18_l2l3_seed0.onnx');
    if (!onnx) return;
    const out = mkdtempSync(join(tmpdir(), 'patchline-e2e-'));
    const data = join(REFERENCE_DIR, 'e2e', 'mvtec', 'synthtex');
    const run = (...args: string[]) => runCli(join(out, 'cache'), args);
    const fit = run(...referenceFitArgs(data, onnx, join(out, 'bank')));
    assert.equal(fit.code, 0, fit.stderr);
    assert.match(fit.stderr, /embed: 10\/10 images/);
    const ev = run('eval', '--bank', join(out, 'bank'), '--data', data, '--json', join(out, 'r.json'));
    assert.equal(ev.code, 0, ev.stderr);
    const report = JSON.parse(readFileSync(join(out, 'r.json'), 'utf8'));
    assert.equal(report.image_auroc.toFixed(4), '0.8125');
    assert.equal(report.pixel_auroc.toFixed(4), '0.8952');
    for (const key of ['pixel_auroc_anomalous', 'aupro', 'f1', 'per_defect', 'threshold', 'counts']) assert.ok(key in report, key);
    assert.deepEqual(Object.keys(report.per_defect), ['blob', 'scratch']);
    assert.match(readFileSync(join(out, 'r.md'), 'utf8'), /!\[.*\]\(r-overlays\/00-blob-001\.png\)/);
  });
});
