// The default backbone's download: sha256-verified, atomic, and an exact instruction offline.
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, readFileSync } from 'node:fs';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import { CATALOGUE, MOBILENETV2_SHA256 } from '../src/model/backbone.js';
import { ensureModel } from '../src/model/fetch-model.js';
import { sharedPath } from './helpers/shared.js';

describe('model fetch', () => {
  test('downloads and verifies; refuses a wrong file; names the file and place when unreachable', async (t) => {
    const source = sharedPath(t, 'models', 'mobilenetv2-12-int8.onnx');
    if (!source) return;
    const good = readFileSync(source);
    const server = createServer((req, res) => res.end(req.url === '/good.onnx' ? good : Buffer.from('not a model')));
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    const port = (server.address() as AddressInfo).port;
    const dir = mkdtempSync(join(tmpdir(), 'patchline-fetch-'));
    const spec = (url: string) => ({ spec: { ...CATALOGUE.mobilenetv2!, url }, onnxPath: join(dir, 'mobilenetv2-12-int8.onnx') });
    try {
      await assert.rejects(
        ensureModel(spec(`http://127.0.0.1:${port}/bad.onnx`)),
        /has sha256 [0-9a-f]{64}, expected cc028fe6.*nothing was written/,
      );
      assert.equal(existsSync(join(dir, 'mobilenetv2-12-int8.onnx')), false);
      assert.deepEqual(await ensureModel(spec(`http://127.0.0.1:${port}/good.onnx`)), {
        status: 'downloaded',
        path: join(dir, 'mobilenetv2-12-int8.onnx'),
      });
      assert.equal((await ensureModel(spec('http://127.0.0.1:1/never'))).status, 'present');
    } finally {
      server.close();
    }
    const offline = { spec: { ...CATALOGUE.mobilenetv2!, url: 'http://127.0.0.1:1/model.onnx' }, onnxPath: join(dir, 'sub', 'm.onnx') };
    await assert.rejects(
      ensureModel(offline),
      (e: Error) =>
        e.message.includes(`place the file at ${join(dir, 'sub', 'm.onnx')} (sha256 ${MOBILENETV2_SHA256})`) &&
        e.message.includes('PATCHLINE_MODEL_DIR'),
    );
  });
});
