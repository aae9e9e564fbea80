// Masks of another size than their image, the embedding spool, and dataset layout errors.
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import { testSamples, trainingImages } from '../src/io/dataset.js';
import { loadMask } from '../src/eval/masks.js';
import { EmbeddingSpool } from '../src/patchcore/embedding-spool.js';
import { loadOpenCV } from '../src/preprocess/opencv.js';

const dir = mkdtempSync(join(tmpdir(), 'patchline-evalio-'));

describe('eval inputs', () => {
  test('a mask of another size is resized to its image (nearest) before the image geometry; soft edges binarised at 128', async () => {
    const cv = await loadOpenCV();
    // Image 200x100; mask drawn at 100x50 with a 20x10 block of 200 (soft but >= 128) and a 90 halo.
    const m = new cv.Mat(50, 100, cv.CV_8UC1, 0);
    m.drawRectangle(new cv.Rect(38, 18, 24, 14), new cv.Vec3(90, 90, 90), -1);
    m.drawRectangle(new cv.Rect(40, 20, 20, 10), new cv.Vec3(200, 200, 200), -1);
    const path = join(dir, 'mask.png');
    cv.imwrite(path, m);
    const mask = await loadMask(path, { width: 200, height: 100 }, { mode: 'exact', width: 200, height: 100 });
    assert.equal(mask.length, 200 * 100);
    assert.equal(
      mask.reduce((a, b) => a + b, 0),
      40 * 20,
    );
    assert.equal(mask[50 * 200 + 100], 1);
    assert.equal(mask[37 * 200 + 76], 0);
  });

  test('the spool returns the rows it was given, in any order', () => {
    const spool = new EmbeddingSpool(3, dir);
    spool.append(Float32Array.of(0, 1, 2, 3, 4, 5));
    spool.append(Float32Array.of(6, 7, 8));
    assert.equal(spool.length, 3);
    assert.deepEqual(Array.from(spool.gather([2, 0])), [6, 7, 8, 0, 1, 2]);
    assert.throws(() => spool.gather([3]), /row 3 outside/);
    spool.close();
  });

  test('dataset layouts: plain folders, MVTec categories, and what is missing', () => {
    const plain = join(dir, 'plain');
    mkdirSync(plain);
    writeFileSync(join(plain, 'b.png'), '');
    writeFileSync(join(plain, 'a.jpg'), '');
    writeFileSync(join(plain, 'notes.txt'), '');
    assert.deepEqual(
      trainingImages(plain).map((p) => p.slice(-5)),
      ['a.jpg', 'b.png'],
    );
    assert.throws(() => trainingImages(join(dir, 'nope')), /nope: no such folder/);
    const cat = join(dir, 'cat');
    mkdirSync(join(cat, 'test', 'good'), { recursive: true });
    mkdirSync(join(cat, 'test', 'scratch'), { recursive: true });
    mkdirSync(join(cat, 'ground_truth', 'scratch'), { recursive: true });
    writeFileSync(join(cat, 'test', 'good', '0.png'), '');
    writeFileSync(join(cat, 'test', 'scratch', '1.bmp'), '');
    writeFileSync(join(cat, 'ground_truth', 'scratch', '1_mask.png'), '');
    const s = testSamples(cat);
    assert.deepEqual(
      s.map((x) => [x.defect, x.label, x.maskPath?.slice(-10)]),
      [
        ['good', 0, undefined],
        ['scratch', 1, '1_mask.png'],
      ],
    );
    mkdirSync(join(cat, 'test', 'dent'));
    assert.throws(() => testSamples(cat), /test\/dent: folder has no images/);
  });
});
