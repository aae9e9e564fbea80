// The bank file refuses truncated, corrupted, foreign-version files and a different backbone.
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { mkdtempSync, readFileSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import { readBank, requireThreshold, writeBank, type BankManifest } from '../src/patchcore/bank-file.js';
import { bankBackbone } from '../src/patchcore/patchcore.js';
import { IMAGENET_NORMALIZATION, REFERENCE_RESIZE } from '../src/preprocess/transform.js';
import { sharedPath } from './helpers/shared.js';

const dir = mkdtempSync(join(tmpdir(), 'patchline-bank-'));

function manifest(ref: string, sha: string): Omit<BankManifest, 'dataSha256' | 'format' | 'version'> {
  return {
    createdAt: '2026-01-01T00:00:00Z',
    patchlineVersion: 'test',
    backbone: {
      ref,
      name: 'resnet18_l2l3_seed0',
      sha256: sha,
      layers: [{ name: 'layer2', tensor: 'layer2', channels: 128, height: 28, width: 28 }],
    },
    input: { width: 224, height: 224, resize: REFERENCE_RESIZE, normalization: IMAGENET_NORMALIZATION },
    head: { patchsize: 3, pretrainDim: 8, targetDim: 4 },
    grid: { height: 28, width: 28 },
    scorer: { k: 1, mapSigma: 4 },
    coreset: { method: 'approximate', percentage: 0.5, seed: 0, inputRows: 6, rows: 3 },
    calibration: {
      threshold: 1.5,
      method: 'holdout-quantile',
      quantile: 0.99,
      margin: 0.1,
      scores: { count: 2, min: 1, median: 1.2, max: 1.4 },
    },
    training: { folder: '/x', images: 3, bankImages: 2, holdoutImages: 1 },
  };
}

describe('bank file', () => {
  const rows = Float32Array.from({ length: 12 }, (_, i) => i / 3);
  const path = join(dir, 'bank.safetensors');

  test('round trip keeps rows and manifest; the layout is plain safetensors', async () => {
    writeBank(path, manifest('x.onnx', 'a'.repeat(64)), rows);
    const b = await readBank(path);
    assert.deepEqual(Array.from(b.rows), Array.from(rows));
    assert.equal(b.manifest.calibration.threshold, 1.5);
    const buf = readFileSync(path);
    const header = JSON.parse(buf.subarray(8, 8 + Number(buf.readBigUInt64LE(0))).toString());
    assert.deepEqual(header.bank.shape, [3, 4]);
    assert.equal(header.bank.dtype, 'F32');
  });

  test('truncated, corrupted, unknown-version and non-bank files are refused with what to do', async () => {
    writeBank(path, manifest('x.onnx', 'a'.repeat(64)), rows);
    const good = readFileSync(path);
    const cases: [string, Buffer, RegExp][] = [
      ['truncated', good.subarray(0, good.length - 5), /truncated bank.*refit/],
      [
        'corrupted',
        Buffer.concat([good.subarray(0, good.length - 1), Buffer.from([good[good.length - 1]! ^ 0xff])]),
        /corrupted bank: data checksum/,
      ],
      ['tiny', Buffer.from('abc'), /not a patchline bank/],
      [
        'version',
        Buffer.from(good.toString('latin1').replace('"version":"2"', '"version":"9"'), 'latin1'),
        /format version 9 is not supported.*upgrade patchline/,
      ],
    ];
    for (const [name, bytes, why] of cases) {
      const p = join(dir, `${name}.safetensors`);
      writeFileSync(p, bytes);
      await assert.rejects(
        () => readBank(p),
        (e: Error) => e.message.startsWith(p) && why.test(e.message),
        name,
      );
    }
  });

  test('an edited manifest or tensor header is refused, whatever the edit (threshold, a digit, the shape)', async () => {
    writeBank(path, manifest('x.onnx', 'a'.repeat(64)), rows);
    const good = readFileSync(path).toString('latin1');
    const edits: [string, string, string][] = [
      ['threshold', '\\"threshold\\":1.5', '\\"threshold\\":9.5'],
      ['digit', '\\"margin\\":0.1', '\\"margin\\":0.2'],
      ['shape', '"shape":[3,4]', '"shape":[4,3]'],
    ];
    for (const [name, from, to] of edits) {
      assert.ok(good.includes(from), `${name}: ${from} is in the header`);
      const p = join(dir, `edited-${name}.bank`);
      writeFileSync(p, Buffer.from(good.replace(from, to), 'latin1'));
      await assert.rejects(
        () => readBank(p),
        (e: Error) => e.message.startsWith(p) && /was modified: checksum/.test(e.message),
        name,
      );
    }
  });

  test('a manifest that fails validation names the file and the field; a bank without a threshold cannot be run', async () => {
    const { input: _input, ...noInput } = manifest('x.onnx', 'a'.repeat(64));
    const p = join(dir, 'no-input.bank');
    writeBank(p, noInput as unknown as BankManifest, rows);
    await assert.rejects(
      () => readBank(p),
      (e: Error) => e.message.startsWith(p) && /manifest is invalid: input/.test(e.message),
    );
    // A manifest that is not JSON at all (the checksum is rebuilt so only the JSON is wrong).
    const good = readFileSync(p);
    const headerLen = Number(good.readBigUInt64LE(0));
    const header = JSON.parse(good.subarray(8, 8 + headerLen).toString());
    header.__metadata__.manifest = '{not json';
    header.__metadata__.checksum = createHash('sha256')
      .update(JSON.stringify([header.__metadata__.format, header.__metadata__.version, header.bank, header.__metadata__.manifest]))
      .digest('hex');
    let json = JSON.stringify(header);
    json += ' '.repeat((8 - (json.length % 8)) % 8);
    const len = Buffer.alloc(8);
    len.writeBigUInt64LE(BigInt(json.length));
    const notJson = join(dir, 'not-json.bank');
    writeFileSync(notJson, Buffer.concat([len, Buffer.from(json), good.subarray(8 + headerLen)]));
    await assert.rejects(
      () => readBank(notJson),
      (e: Error) => e.message.startsWith(notJson) && /manifest is not JSON/.test(e.message),
    );
    const m = manifest('x.onnx', 'a'.repeat(64));
    const q = join(dir, 'no-threshold.bank');
    writeBank(q, { ...m, calibration: { ...m.calibration, threshold: NaN, method: 'none' } }, rows);
    const b = await readBank(q);
    assert.ok(Number.isNaN(b.manifest.calibration.threshold));
    assert.throws(
      () => requireThreshold(b.manifest, q),
      (e: Error) => e.message.startsWith(q) && /has no threshold/.test(e.message),
    );
  });

  test('a FIFO or a device is refused without blocking; an oversized file is refused before it is read', async () => {
    const fifo = join(dir, 'fifo.bank');
    execFileSync('mkfifo', [fifo]);
    await assert.rejects(() => readBank(fifo), /not a regular file/);
    const zero = join(dir, 'zero.bank');
    symlinkSync('/dev/zero', zero);
    await assert.rejects(() => readBank(zero), /not a regular file/);
    writeBank(path, manifest('x.onnx', 'a'.repeat(64)), rows);
    await assert.rejects(() => readBank(path, { maxBytes: 64 }), /larger than the 64-byte limit/);
  });

  test('a backbone whose sha256 differs from the bank is refused', (t) => {
    const onnx = sharedPath(t, 'fixtures', 'reference', 'backbone', 'resnet18_l2l3_seed0.onnx');
    if (!onnx) return;
    assert.throws(
      () => bankBackbone({ ...manifest(onnx, 'b'.repeat(64)), format: 'patchline-bank', version: 1, dataSha256: '' }),
      /sha256 .* but the bank was fitted with .*refit/,
    );
  });
});
