// fit's calibration (holdout quantile, labelled validation) and its errors on bad folders.
import assert from 'node:assert/strict';
import { copyFileSync, cpSync, mkdirSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import { readBank } from '../src/patchcore/bank-file.js';
import { holdoutIndices } from '../src/patchcore/fit.js';
import { runCli } from './helpers/cli.js';
import { REFERENCE_DIR, sharedPath } from './helpers/shared.js';

const out = mkdtempSync(join(tmpdir(), 'patchline-fit-'));
const cli = (...args: string[]) => runCli(join(out, 'cache'), args);

describe('fit calibration', () => {
  test('holdout positions are spread evenly and deterministic', () => {
    assert.deepEqual([...holdoutIndices(10, 0.2)], [2, 7]);
    assert.deepEqual([...holdoutIndices(10, 0)], []);
    assert.deepEqual([...holdoutIndices(3, 0.01)], [1]);
    assert.throws(() => holdoutIndices(1, 0.5), /leaves no image/);
  });

  test('holdout: the threshold is the quantile of held-out good scores times (1 + margin); validation: F1-optimal', async (t) => {
    const onnx = sharedPath(t, 'fixtures', 'reference', 'backbone', 'resnet18_l2l3_seed0.onnx');
    if (!onnx) return;
    const data = join(REFERENCE_DIR, 'e2e', 'mvtec', 'synthtex');
    const common = ['--backbone', onnx, '--layers', 'layer2,layer3', '--pretrain-dim', '256', '--target-dim', '256', '--coreset', '0.25'];
    const r = cli('fit', '--data', data, ...common, '--holdout', '0.2', '--quantile', '1', '--margin', '0.1', '--out', join(out, 'h.bank'));
    assert.equal(r.code, 0, r.stderr);
    const c = (await readBank(join(out, 'h.bank'))).manifest.calibration;
    assert.equal(c.method, 'holdout-quantile');
    assert.equal(c.scores.count, 2);
    assert.ok(Math.abs(c.threshold - c.scores.max * 1.1) < 1e-9 * c.threshold);
    assert.equal((await readBank(join(out, 'h.bank'))).manifest.training.bankImages, 8);

    const v = cli('fit', '--data', data, ...common, '--validation', join(data, 'test'), '--out', join(out, 'v.bank'));
    assert.equal(v.code, 0, v.stderr);
    const cv = (await readBank(join(out, 'v.bank'))).manifest.calibration;
    assert.equal(cv.method, 'validation-f1');
    assert.ok(cv.f1! > 0.5 && cv.f1! <= 1, String(cv.f1));
    assert.equal(cv.scores.count, 8);
  });

  test('bad folders and files fail with exit 2 or 1 and name the path', (t) => {
    const onnx = sharedPath(t, 'fixtures', 'reference', 'backbone', 'resnet18_l2l3_seed0.onnx');
    if (!onnx) return;
    const empty = join(out, 'empty');
    mkdirSync(empty);
    let r = cli('fit', '--data', empty, '--backbone', onnx, '--layers', 'layer2', '--out', join(out, 'x.bank'));
    assert.equal(r.code, 2);
    assert.match(r.stderr, /empty: no images/);

    const broken = join(out, 'broken');
    mkdirSync(broken);
    copyFileSync(join(REFERENCE_DIR, 'e2e', 'mvtec', 'synthtex', 'train', 'good', '000.png'), join(broken, 'a.png'));
    writeFileSync(join(broken, 'b.png'), 'not really a png');
    r = cli('fit', '--data', broken, '--backbone', onnx, '--layers', 'layer2', '--holdout', '0', '--out', join(out, 'x.bank'));
    assert.equal(r.code, 1);
    assert.match(r.stderr, /b\.png: not an image/);

    const noMask = join(out, 'nomask');
    mkdirSync(join(noMask, 'test', 'good'), { recursive: true });
    mkdirSync(join(noMask, 'test', 'crack'), { recursive: true });
    copyFileSync(join(broken, 'a.png'), join(noMask, 'test', 'good', '0.png'));
    copyFileSync(join(broken, 'a.png'), join(noMask, 'test', 'crack', '7.png'));
    // Defect images without masks are labelled at image level: image metrics, no pixel metrics.
    r = cli('eval', '--bank', join(out, 'h.bank'), '--data', noMask, '--json', join(out, 'r.json'));
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /image AUROC \d\.\d{4}  pixel AUROC n\/a: no masks/);
    const report = JSON.parse(readFileSync(join(out, 'r.json'), 'utf8'));
    assert.equal(report.pixel_auroc, null);
    assert.equal(report.aupro, null);
    assert.equal(report.per_defect.crack.pixel_auroc, null);
    assert.equal(report.counts.defective_with_masks, 0);
    assert.match(readFileSync(join(out, 'r.md'), 'utf8'), /\| pixel AUROC \(all images\) \| n\/a: no masks \|/);

    // A mixed folder: pixel metrics on the images that have masks, and the report says how many.
    const mixed = join(out, 'mixed');
    cpSync(join(REFERENCE_DIR, 'e2e', 'mvtec', 'synthtex'), mixed, { recursive: true });
    mkdirSync(join(mixed, 'test', 'crack'));
    copyFileSync(join(broken, 'a.png'), join(mixed, 'test', 'crack', '7.png'));
    r = cli('eval', '--bank', join(out, 'h.bank'), '--data', mixed, '--json', join(out, 'mixed.json'));
    assert.equal(r.code, 0, r.stderr);
    const m = JSON.parse(readFileSync(join(out, 'mixed.json'), 'utf8'));
    assert.ok(m.pixel_auroc > 0.5, `pixel AUROC ${m.pixel_auroc}`);
    assert.equal(m.counts.defective, 5);
    assert.equal(m.counts.defective_with_masks, 4);
    assert.equal(m.per_defect.crack.pixel_auroc, null);
    assert.ok(m.per_defect.blob.pixel_auroc > 0);
    assert.match(r.stdout, /Pixel metrics cover the good images and the 4 of 5 defect images that have a mask/);

    r = cli(
      'eval',
      '--bank',
      join(out, 'missing.bank'),
      '--data',
      join(REFERENCE_DIR, 'e2e', 'mvtec', 'synthtex'),
      '--json',
      join(out, 'r.json'),
    );
    assert.equal(r.code, 2);
    assert.match(r.stderr, /--bank: .*missing\.bank: cannot read bank: ENOENT/);
  });
});
