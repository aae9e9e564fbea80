// `patchline run` as a user starts it: an undecodable file is counted and skipped, SIGTERM
// drains, publishes the offline status and exits 0.
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { copyFileSync, existsSync, mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import mqtt from 'mqtt';
import { SyntheticWeb } from '../src/linescan/synthetic-web.js';
import { loadOpenCV } from '../src/preprocess/opencv.js';
import { useTestCache } from './helpers/cache.js';
import { freePort, Mosquitto } from './helpers/mosquitto.js';
import { PROJECT_ROOT, SHARED_DIR } from './helpers/shared.js';
import { fitWebBank } from './helpers/web-bank.js';

const cache = useTestCache();
const models = join(SHARED_DIR, 'models');
const haveModel = existsSync(join(models, 'mobilenetv2-12-int8.onnx'));
if (!haveModel)
  process.stderr.write(`\n!!! SKIPPED: ${models}/mobilenetv2-12-int8.onnx is absent: shutdown test needs the zoo MobileNetV2\n`);

describe('patchline run process', { skip: !haveModel }, () => {
  let broker: Mosquitto;
  before(async () => {
    broker = await Mosquitto.start();
  });
  after(() => broker.stop());

  test('bad frames are counted and skipped; SIGTERM drains, goes offline and exits 0', async () => {
    const bank = await fitWebBank(models);
    const dir = mkdtempSync(join(tmpdir(), 'patchline-run-'));
    const images = join(dir, 'incoming');
    mkdirSync(images);
    const cv = await loadOpenCV();
    const web = new SyntheticWeb({ width: 224, seed: 5, defectEvery: 0 });
    for (let i = 0; i < 4; i++)
      cv.imwrite(join(images, `${i}.png`), new cv.Mat(Buffer.from(web.render(i * 224, 224)), 224, 224, cv.CV_8UC3));
    writeFileSync(join(images, '2b-corrupt.png'), 'this is not a png');
    copyFileSync(join(images, '0.png'), join(images, '9.png'));
    const port = await freePort();
    const config = join(dir, 'run.yaml');
    writeFileSync(
      config,
      `source: { type: folder, path: ${images}, watch: true, pollMs: 100 }\nmodel: { bank: ${bank}, modelDir: ${models} }\nmqtt: { url: ${broker.url} }\nmetrics: { port: ${port} }\nui: { port: 0 }\n`,
    );
    const sub = await mqtt.connectAsync(broker.url);
    const results: number[] = [];
    const statuses: string[] = [];
    sub.on('message', (topic, p) => {
      if (topic.endsWith('/result')) results.push(JSON.parse(p.toString()).seq);
      if (topic.endsWith('/status')) statuses.push(JSON.parse(p.toString()).state);
    });
    await sub.subscribeAsync('patchline/#', { qos: 1 });
    const proc = spawn(
      process.execPath,
      ['--import', 'tsx', join(PROJECT_ROOT, 'src', 'cli', 'main.ts'), 'run', '--config', config, '--quiet'],
      { cwd: PROJECT_ROOT, env: { ...process.env, PATCHLINE_CACHE_DIR: cache } },
    );
    let stderr = '';
    proc.stderr.on('data', (d) => (stderr += d));
    const exited = new Promise<number | null>((r) => proc.once('exit', (code) => r(code)));
    const until = Date.now() + 60_000;
    while (results.length < 5 && Date.now() < until) await new Promise((r) => setTimeout(r, 200));
    const metrics = await (await fetch(`http://127.0.0.1:${port}/metrics`)).text();
    assert.match(metrics, /patchline_frames_dropped_total\{reason="bad_frame"\} 1/);
    proc.kill('SIGTERM');
    assert.equal(await exited, 0, stderr);
    await new Promise((r) => setTimeout(r, 300));
    await sub.endAsync();
    assert.deepEqual(results, [0, 1, 2, 3, 4]);
    assert.match(stderr, /skipped .*2b-corrupt\.png: not an image/);
    assert.match(stderr, /SIGTERM: stopping the source and draining/);
    assert.equal(statuses.at(-1), 'offline');
  });
});
