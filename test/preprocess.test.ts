// Image decoding (OpenCV) and the reference transform (Pillow bilinear + centre crop + ImageNet
// normalisation), bitwise against the fixtures; bad files fail with their name in the error.
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import { readNpyFloat32 } from '../src/io/npy.js';
import { decodeImage, readImage } from '../src/preprocess/decode.js';
import { loadBatch } from '../src/preprocess/batch.js';
import { loadOpenCV } from '../src/preprocess/opencv.js';
import { applyResizePolicy, centerCrop, IMAGENET_NORMALIZATION, REFERENCE_RESIZE, shorterSideSize } from '../src/preprocess/transform.js';
import { jpegDeclaring, pngDeclaring, tiffDeclaring } from './helpers/hostile-files.js';
import { maskToFloat } from './helpers/reference-transforms.js';
import { compareClose } from './helpers/compare.js';
import { REFERENCE_DIR, sharedPath } from './helpers/shared.js';

function bitwiseDiffs(a: Float32Array, b: Float32Array): number {
  assert.equal(a.length, b.length);
  let n = 0;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) n++;
  return n;
}

describe('reference preprocessing parity', () => {
  test('non-square image (320x280 -> 292x256, crop at 16/34) and its mask are bitwise equal', async (t) => {
    const img = sharedPath(t, 'fixtures', 'reference', 'preprocess', 'mvtec', 'odd', 'test', 'blob', '000.png');
    if (!img) return;
    const expected = readNpyFloat32(join(REFERENCE_DIR, 'preprocess', 'image.npy'));
    const batch = await loadBatch([img], REFERENCE_RESIZE, IMAGENET_NORMALIZATION);
    assert.deepEqual(batch.dims, [1, ...expected.shape]);
    assert.equal(bitwiseDiffs(batch.data, expected.data), 0);
    const perturbed = Float32Array.from(expected.data);
    perturbed[1000]! += 1e-6;
    assert.equal(bitwiseDiffs(batch.data, perturbed), 1);

    const mask = await readImage(join(REFERENCE_DIR, 'preprocess', 'mvtec', 'odd', 'ground_truth', 'blob', '000_mask.png'), 'gray');
    const m = maskToFloat(applyResizePolicy(mask, REFERENCE_RESIZE));
    const expectedMask = readNpyFloat32(join(REFERENCE_DIR, 'preprocess', 'mask.npy'));
    assert.equal(bitwiseDiffs(m, expectedMask.data), 0);
  });

  test('e2e test images (256x256, unchanged by Resize) are bitwise equal in dataset order', async (t) => {
    const root = sharedPath(t, 'fixtures', 'reference', 'e2e', 'mvtec', 'synthtex', 'test');
    if (!root) return;
    const order = ['blob/000', 'blob/001', 'good/000', 'good/001', 'good/002', 'good/003', 'scratch/000', 'scratch/001'];
    const batch = await loadBatch(
      order.map((o) => join(root, `${o}.png`)),
      REFERENCE_RESIZE,
      IMAGENET_NORMALIZATION,
    );
    const expected = readNpyFloat32(join(REFERENCE_DIR, 'e2e', 'test_images.npy'));
    assert.deepEqual(batch.dims, expected.shape);
    assert.equal(bitwiseDiffs(batch.data, expected.data), 0);
    assert.equal(compareClose(batch.data, expected.data, { atol: 0 }).ok, true);
  });

  test('torchvision size rules: shorter side, int() of the long side, round-half-even crop offsets', () => {
    assert.deepEqual(shorterSideSize(320, 280, 256), { width: 292, height: 256 });
    assert.deepEqual(shorterSideSize(100, 300, 256), { width: 256, height: 768 });
    const img = { width: 227, height: 225, channels: 1, data: Uint8Array.from({ length: 227 * 225 }, (_, i) => i % 251) };
    // (227-224)/2 = 1.5 -> 2, (225-224)/2 = 0.5 -> 0 (Python's round)
    const c = centerCrop(img, 224, 224);
    assert.equal(c.data[0], img.data[0 * 227 + 2]);
  });
});

describe('decoding', () => {
  test("the binding's Mat allocator does not report to V8 (Node 20 aborted in CppHeap::TraceEpilogue when it did)", async () => {
    // With it on, `patchline run` with every tile anomalous and the operator page open aborted
    // with "Check failed: marking_done_" in 3 of 6 runs (docs/RELIABILITY.md, limits).
    const cv = await loadOpenCV();
    assert.equal(cv.isCustomMatAllocatorEnabled(), false);
  });

  const dir = mkdtempSync(join(tmpdir(), 'patchline-decode-'));

  async function encoded(
    ext: string,
    make: (cv: Awaited<ReturnType<typeof loadOpenCV>>) => InstanceType<Awaited<ReturnType<typeof loadOpenCV>>['Mat']>,
  ): Promise<Buffer> {
    const cv = await loadOpenCV();
    return cv.imencode(ext, make(cv));
  }

  test('8-bit gray, RGB, RGBA PNG; JPEG; BMP; TIFF; 16-bit PNG all decode to 8-bit RGB', async () => {
    const cases: [
      string,
      string,
      (cv: Awaited<ReturnType<typeof loadOpenCV>>) => InstanceType<Awaited<ReturnType<typeof loadOpenCV>>['Mat']>,
      [number, number, number],
    ][] = [
      ['gray png', '.png', (cv) => new cv.Mat(5, 7, cv.CV_8UC1, 200), [200, 200, 200]],
      ['bgr png', '.png', (cv) => new cv.Mat(5, 7, cv.CV_8UC3, [10, 20, 30]), [30, 20, 10]],
      ['bgra png', '.png', (cv) => new cv.Mat(5, 7, cv.CV_8UC4, [10, 20, 30, 128]), [30, 20, 10]],
      ['bmp', '.bmp', (cv) => new cv.Mat(5, 7, cv.CV_8UC3, [1, 2, 3]), [3, 2, 1]],
      ['tiff', '.tiff', (cv) => new cv.Mat(5, 7, cv.CV_8UC3, [40, 50, 60]), [60, 50, 40]],
      ['16-bit png', '.png', (cv) => new cv.Mat(5, 7, cv.CV_16UC1, 65535), [255, 255, 255]],
      ['16-bit rgb tiff', '.tiff', (cv) => new cv.Mat(5, 7, cv.CV_16UC3, [0, 32896, 65535]), [255, 128, 0]],
    ];
    for (const [label, ext, make, rgb] of cases) {
      const img = await decodeImage(await encoded(ext, make), label);
      assert.deepEqual([img.width, img.height, img.channels], [7, 5, 3], label);
      assert.deepEqual(Array.from(img.data.subarray(0, 3)), rgb, label);
    }
    const jpeg = await decodeImage(await encoded('.jpg', (cv) => new cv.Mat(16, 16, cv.CV_8UC3, [128, 128, 128])), 'jpeg');
    assert.ok(Math.abs(jpeg.data[0]! - 128) <= 2);
  });

  test('bad files fail with an error naming the file', async () => {
    const png = await encoded('.png', (cv) => new cv.Mat(32, 32, cv.CV_8UC3, [1, 2, 3]));
    const jpg = await encoded('.jpg', (cv) => new cv.Mat(32, 32, cv.CV_8UC3, [1, 2, 3]));
    const floatTiff = await encoded('.tiff', (cv) => new cv.Mat(4, 4, cv.CV_32FC1, 0.5));
    const files: [string, Uint8Array, RegExp][] = [
      ['notes.png', Buffer.from('hello, not an image'), /not an image/],
      ['empty.png', new Uint8Array(0), /empty file/],
      ['cut.png', png.subarray(0, png.length - 20), /truncated PNG/],
      ['cut.jpg', jpg.subarray(0, jpg.length / 2), /truncated JPEG/],
      ['float.tiff', floatTiff, /unsupported bit depth/],
      ['garbage.png', Buffer.concat([png.subarray(0, 33), Buffer.alloc(200, 7), Buffer.from('IEND')]), /cannot decode PNG/],
    ];
    for (const [name, bytes, why] of files) {
      const path = join(dir, name);
      writeFileSync(path, bytes);
      await assert.rejects(readImage(path), (e: Error) => e.message.startsWith(path) && why.test(e.message), name);
    }
    await assert.rejects(readImage(join(dir, 'missing.png')), /missing\.png: cannot read: ENOENT/);
    assert.ok(readFileSync(join(dir, 'cut.png')).length > 0);
  });

  test('decompression bombs are refused from their header, before any pixel is decoded', async () => {
    const cv = await loadOpenCV();
    const bombs: [string, Uint8Array][] = [
      ['bomb.png', pngDeclaring(20000, 20000)],
      ['bomb.jpg', jpegDeclaring(cv.imencode('.jpg', new cv.Mat(16, 16, cv.CV_8UC3, [1, 2, 3])), 60000, 60000)],
      ['bomb.tiff', tiffDeclaring(cv.imencode('.tiff', new cv.Mat(4, 4, cv.CV_8UC3, [1, 2, 3])), 30000, 30000)],
    ];
    for (const [name, bytes] of bombs) {
      const path = join(dir, name);
      writeFileSync(path, bytes);
      await assert.rejects(
        readImage(path),
        (e: Error) => e.message.startsWith(path) && /declares \d+x\d+ = \d+ pixels, more than the limit/.test(e.message),
        name,
      );
    }
    // A caller's own limit applies, in both directions.
    const small = await encoded('.png', (c) => new c.Mat(40, 50, c.CV_8UC3, [1, 2, 3]));
    await assert.rejects(decodeImage(small, 'small.png', 'rgb', { maxPixels: 1999 }), /declares 50x40 = 2000 pixels/);
    assert.equal((await decodeImage(small, 'small.png', 'rgb', { maxPixels: 2000 })).width, 50);
  });

  test('FIFOs, devices and oversized files are refused without blocking', async () => {
    const fifo = join(dir, 'pipe.png');
    execFileSync('mkfifo', [fifo]);
    await assert.rejects(readImage(fifo), /pipe\.png: not a regular file/);
    const zero = join(dir, 'zero.png');
    symlinkSync('/dev/zero', zero);
    await assert.rejects(readImage(zero), /zero\.png: not a regular file/);
    const big = join(dir, 'big.png');
    writeFileSync(big, Buffer.alloc(4096));
    await assert.rejects(readImage(big, 'rgb', { maxBytes: 1000 }), /4096 bytes is more than the limit of 1000 bytes/);
  });
});
