// The fault campaign as tests: start-up failures that must end the process, hostile MQTT
// commands against a real mosquitto, a reload storm under a running stream, a bank without a
// threshold, a prompt shutdown, an honest last will, and stall detection.
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { copyFileSync, mkdirSync, mkdtempSync, readFileSync, renameSync, symlinkSync, writeFileSync } from 'node:fs';
import { execFileSync } from 'node:child_process';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import mqtt from 'mqtt';
import { defaultConfig } from '../src/config/load.js';
import type { Config } from '../src/config/schema.js';
import { SyntheticWeb } from '../src/linescan/synthetic-web.js';
import { readBank, writeBank } from '../src/patchcore/bank-file.js';
import { loadOpenCV } from '../src/preprocess/opencv.js';
import { statusSchema } from '../src/publish/payload-schema.js';
import { Health } from '../src/service/health.js';
import { InspectionService } from '../src/service/service.js';
import { useTestCache } from './helpers/cache.js';
import { freePort, Mosquitto } from './helpers/mosquitto.js';
import { PROJECT_ROOT, SHARED_DIR } from './helpers/shared.js';
import { fitWebBank } from './helpers/web-bank.js';

const cache = useTestCache();
const models = join(SHARED_DIR, 'models');
const haveModel = (() => {
  try {
    readFileSync(join(models, 'mobilenetv2-12-int8.onnx'));
    return true;
  } catch {
    process.stderr.write(`\n!!! SKIPPED: ${models}/mobilenetv2-12-int8.onnx is absent: fault tests need the zoo MobileNetV2\n`);
    return false;
  }
})();

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

async function waitFor(what: () => boolean, label: string, logs: string[] = [], ms = 60_000): Promise<void> {
  const until = Date.now() + ms;
  while (!what()) {
    if (Date.now() > until) throw new Error(`timed out waiting for ${label}; log:\n${logs.join('\n')}`);
    await sleep(100);
  }
}

function metricValue(text: string, name: string, labels = ''): number {
  const line = text.split('\n').find((l) => l.startsWith(`${name}${labels} `));
  return line ? Number(line.split(' ').pop()) : 0;
}

function webConfig(bank: string, broker: string, linesPerSecond: number, metricsPort: number): Config {
  const d = defaultConfig();
  return {
    ...d,
    source: { type: 'synthetic-web', width: 448, linesPerChunk: 32, linesPerSecond, seed: 1, defectEvery: 700, lines: 0 },
    model: { ...d.model, bank, modelDir: models, threads: 1 },
    mqtt: { ...d.mqtt, url: broker },
    metrics: { enabled: true, host: '127.0.0.1', port: metricsPort },
    ui: { ...d.ui, port: 0 },
  };
}

type FolderSource = Extract<Config['source'], { type: 'folder' }>;

/** A folder source read at once (no settle wait), with the schema's limits. */
function folderSource(path: string, more: Partial<FolderSource> = {}): FolderSource {
  return {
    type: 'folder',
    path,
    watch: false,
    pollMs: 500,
    settleMs: 0,
    retries: 3,
    maxFileMb: 64,
    maxPixels: 50_000_000,
    readTimeoutMs: 5000,
    ...more,
  };
}

describe('fault campaign', { skip: !haveModel }, () => {
  let broker: Mosquitto;
  let bank: string;
  let bankDir: string;
  before(async () => {
    broker = await Mosquitto.start();
    const fitted = await fitWebBank(models);
    bankDir = mkdtempSync(join(tmpdir(), 'patchline-banks-'));
    bank = join(bankDir, 'live.bank');
    copyFileSync(fitted, bank);
  });
  after(() => broker.stop());

  test('start-up failures exit non-zero within seconds, naming the config key', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'patchline-startup-'));
    const garbageKey = join(dir, 'garbage.key');
    writeFileSync(garbageKey, 'this is not a key\n');
    const noInput = join(dir, 'no-input.bank');
    const stored = await readBank(bank);
    const { input: _input, ...rest } = stored.manifest;
    writeBank(noInput, rest as unknown as typeof stored.manifest, stored.rows);
    const unknownLayer = join(dir, 'unknown-layer.bank');
    const layers = stored.manifest.backbone.layers.map((l, i) => (i === 0 ? { ...l, name: 'features.99' } : l));
    writeBank(unknownLayer, { ...stored.manifest, backbone: { ...stored.manifest.backbone, layers } }, stored.rows);
    const port = await freePort();
    const base = `model: { bank: ${bank}, modelDir: ${models} }\nmqtt: { url: ${broker.url} }\nmetrics: { port: ${port} }\nui: { port: 0 }\n`;
    const cases: [string, string, string[], RegExp][] = [
      [
        'missing folder',
        base,
        ['--set', 'source.type=folder', '--set', 'source.path=/nonexistent'],
        /source\.path: cannot read folder \/nonexistent: ENOENT/,
      ],
      ['impossible overlap', base, ['--set', 'linescan.overlap=300'], /linescan\.overlap: 300 must be in \[0, 224\)/],
      [
        'unreadable CA',
        base,
        ['--set', `mqtt.tls.ca=${join(dir, 'missing-ca.pem')}`],
        /mqtt\.tls\.ca: cannot read .*missing-ca\.pem: ENOENT/,
      ],
      ['garbage key', base, ['--set', `mqtt.tls.key=${garbageKey}`], /mqtt\.tls\.key: .*garbage\.key is not a PEM private key/],
      ['manifest without input', base.replace(bank, noInput), [], /model\.bank: .*no-input\.bank: bank manifest is invalid: input/],
      ['unknown MQTT scheme', base, ['--set', 'mqtt.url=nonsense://127.0.0.1:1883'], /mqtt\.url: .*nonsense:/],
      // Fails after the metrics server and the inference worker exist: they must be closed.
      ['layer the backbone lacks', base.replace(bank, unknownLayer), [], /has no layer 'features\.99'/],
    ];
    for (const [name, yaml, args, why] of cases) {
      const config = join(dir, `${name.replace(/\W+/g, '-')}.yaml`);
      writeFileSync(config, yaml);
      const t0 = Date.now();
      const proc = spawn(
        process.execPath,
        ['--import', 'tsx', join(PROJECT_ROOT, 'src', 'cli', 'main.ts'), 'run', '--config', config, '--quiet', ...args],
        {
          cwd: PROJECT_ROOT,
          env: { ...process.env, PATCHLINE_CACHE_DIR: cache },
        },
      );
      let stderr = '';
      proc.stderr.on('data', (d) => (stderr += d));
      const code = await new Promise<number | null>((r) => {
        const kill = setTimeout(() => proc.kill('SIGKILL'), 60_000);
        proc.once('exit', (c) => {
          clearTimeout(kill);
          r(c);
        });
      });
      const seconds = (Date.now() - t0) / 1000;
      assert.ok(code !== null && code !== 0, `${name}: exit code ${code} (null: had to be killed)\n${stderr}`);
      assert.match(stderr, why, name);
      assert.ok(seconds < 30, `${name}: took ${seconds.toFixed(1)} s to exit`);
    }
  });

  test('hostile MQTT commands are refused and logged briefly; the stream and /metrics go on', async () => {
    execFileSync('mkfifo', [join(bankDir, 'fifo.bank')]);
    symlinkSync('/etc/hostname', join(bankDir, 'escape.bank'));
    const logs: string[] = [];
    const port = await freePort();
    const service = new InspectionService(webConfig(bank, broker.url, 300, port), (s) => logs.push(s));
    await service.start();
    await waitFor(() => service.stats.framesOut >= 3, 'first results', logs);
    const bankBefore = service.stats.last!.bankId;
    const client = await mqtt.connectAsync(broker.url);
    const send = (payload: string | Buffer) => client.publishAsync('patchline/line1/cam1/command', payload, { qos: 1 });
    await send(JSON.stringify({ command: 'reload-bank', bank: join(bankDir, 'fifo.bank') }));
    await send(JSON.stringify({ command: 'reload-bank', bank: 12345 }));
    await send(JSON.stringify({ command: 'reload-bank', bank: '/etc/passwd' }));
    await send(JSON.stringify({ command: 'reload-bank', bank: '../../etc/passwd' }));
    await send(JSON.stringify({ command: 'reload-bank', bank: 'escape.bank' }));
    await send(JSON.stringify({ command: 'reload-bank', bank: `${'x'.repeat(3000)}.bank` }));
    await send(JSON.stringify({ command: 'reload-bank', bank: 'y'.repeat(10 * 2 ** 20) }));
    await send('not json at all');
    await send(JSON.stringify({ command: 'format-disk' }));
    const t0 = Date.now();
    const metrics = await (await fetch(`http://127.0.0.1:${port}/metrics`)).text();
    assert.ok(Date.now() - t0 < 2000, '/metrics answers while commands are handled');
    await waitFor(() => logs.filter((l) => /refused|ignored/.test(l)).length >= 9, 'nine refusals', logs, 20_000);
    const framesAfter = service.stats.framesOut;
    await waitFor(() => service.stats.framesOut > framesAfter + 3, 'frames after the commands', logs);
    await client.endAsync();
    await service.stop();
    const refusals = logs.filter((l) => /refused|ignored/.test(l));
    assert.match(refusals.join('\n'), /fifo\.bank: not a regular file/);
    assert.match(refusals.join('\n'), /bank: Invalid input: expected string/);
    assert.match(refusals.join('\n'), /"\/etc\/passwd" is outside the bank folder/);
    assert.match(refusals.join('\n'), /"\.\.\/\.\.\/etc\/passwd" is outside the bank folder/);
    assert.match(refusals.join('\n'), /"escape\.bank" is outside the bank folder/);
    assert.match(refusals.join('\n'), /\(3005 characters\): ENAMETOOLONG/);
    assert.match(refusals.join('\n'), /ignored a \d+-byte command/);
    assert.match(refusals.join('\n'), /not JSON/);
    assert.match(refusals.join('\n'), /format-disk.*command: Invalid discriminator/);
    for (const l of logs) assert.ok(l.length < 1000, `log line of ${l.length} characters: ${l.slice(0, 120)}`);
    assert.equal(service.stats.last!.bankId, bankBefore);
    assert.equal(metricValue(metrics, 'patchline_frames_dropped_total', '{reason="queue_full"}'), 0);
  });

  test('a reload storm loses no frame, coalesces, and releases every replaced model; a bank without a threshold is refused before the swap', async () => {
    const second = join(bankDir, 'second.bank');
    copyFileSync(await fitWebBank(models, 0.05), second);
    const noThreshold = join(bankDir, 'no-threshold.bank');
    const stored = await readBank(bank);
    writeBank(
      noThreshold,
      { ...stored.manifest, calibration: { ...stored.manifest.calibration, threshold: NaN, method: 'none' } },
      stored.rows,
    );
    const logs: string[] = [];
    const sub = await mqtt.connectAsync(broker.url);
    const seqs: number[] = [];
    const banks: string[] = [];
    sub.on('message', (topic, p) => {
      if (!topic.endsWith('/result')) return;
      const r = JSON.parse(p.toString());
      seqs.push(r.seq);
      banks.push(r.bank);
    });
    await sub.subscribeAsync('patchline/+/+/result', { qos: 1 });
    const port = await freePort();
    const service = new InspectionService(webConfig(bank, broker.url, 400, port), (s) => logs.push(s));
    await service.start();
    await waitFor(() => service.stats.framesOut >= 3, 'first results', logs);
    const client = await mqtt.connectAsync(broker.url);
    for (let i = 0; i < 30; i++) {
      await client.publishAsync(
        'patchline/line1/cam1/command',
        JSON.stringify({ command: 'reload-bank', bank: i % 2 ? 'second.bank' : 'live.bank' }),
        { qos: 1 },
      );
      await sleep(50);
    }
    await waitFor(() => logs.filter((l) => /bank reloaded|refused|superseded/.test(l)).length >= 30, 'the storm to settle', logs);
    await waitFor(() => service.liveModels === 1, 'replaced models to be released', logs, 20_000);
    await client.publishAsync('patchline/line1/cam1/command', JSON.stringify({ command: 'reload-bank', bank: 'no-threshold.bank' }), {
      qos: 1,
    });
    await waitFor(() => logs.some((l) => /no-threshold\.bank: the bank has no threshold/.test(l)), 'the refusal', logs);
    const framesNow = service.stats.framesOut;
    await waitFor(() => service.stats.framesOut > framesNow + 3, 'frames after the refusal', logs);
    const text = await service.metrics.text();
    await client.endAsync();
    await service.stop();
    await sleep(300);
    await sub.endAsync();
    assert.ok(!banks.some((b) => b.startsWith('no-threshold')), 'the refused bank never scored a frame');
    assert.ok(banks.at(-1)!.startsWith('second.bank@'), 'the newest request of the storm won');
    assert.equal(metricValue(text, 'patchline_frames_dropped_total', '{reason="queue_full"}'), 0, 'no frame dropped');
    const firsts = seqs.filter((s, i) => seqs.indexOf(s) === i);
    assert.deepEqual(
      firsts,
      Array.from({ length: service.stats.framesOut }, (_, i) => i),
      'every result delivered, in order',
    );
    const ok = metricValue(text, 'patchline_bank_reloads_total', '{result="ok"}');
    const coalesced = metricValue(text, 'patchline_bank_reloads_total', '{result="coalesced"}');
    assert.ok(coalesced >= 10, `coalesced ${coalesced} of 30`);
    assert.equal(ok + coalesced, 30, `ok ${ok} + coalesced ${coalesced}`);
    assert.ok(new Set(banks).size >= 2, 'both banks scored frames');
  });

  test('the last will says offline without a stale time and validates against the status schema', async () => {
    const statuses: unknown[] = [];
    const sub = await mqtt.connectAsync(broker.url);
    sub.on('message', (topic, p) => {
      if (topic.endsWith('/status')) statuses.push(JSON.parse(p.toString()));
    });
    await sub.subscribeAsync('patchline/+/will-cam/status', { qos: 1 });
    const service = new InspectionService(
      { ...webConfig(bank, broker.url, 100, 0), camera: 'will-cam', metrics: { enabled: false, host: '127.0.0.1', port: 0 } },
      () => {},
    );
    await service.start();
    await waitFor(() => statuses.some((s) => (s as { state: string }).state === 'online'), 'online status');
    (service as unknown as { publisher: { client: mqtt.MqttClient } }).publisher.client.stream.destroy();
    await waitFor(() => statuses.some((s) => (s as { state: string }).state === 'offline'), 'the will', [], 10_000);
    await service.stop();
    await sub.endAsync();
    const will = statuses.find((s) => (s as { state: string }).state === 'offline') as Record<string, unknown>;
    assert.equal(will.since, undefined, 'the will carries no time: the broker sends it later');
    assert.equal(will.bank !== undefined, true);
    assert.equal(statusSchema.safeParse(will).success, true);
    const online = statuses.find((s) => (s as { state: string }).state === 'online') as Record<string, unknown>;
    assert.ok(Date.now() - Date.parse(String(online.since)) < 60_000);
  });

  test('a watched folder that is unmounted is reported down (metric, status, /readyz) while the service runs on, and picked up again', async () => {
    const cv = await loadOpenCV();
    const dir = mkdtempSync(join(tmpdir(), 'patchline-mount-'));
    const images = join(dir, 'in');
    mkdirSync(images);
    const web = new SyntheticWeb({ width: 224, seed: 5, defectEvery: 0 });
    const put = (name: string, i: number) =>
      cv.imwrite(join(images, name), new cv.Mat(Buffer.from(web.render(i * 224, 224)), 224, 224, cv.CV_8UC3));
    put('a.png', 0);
    const port = await freePort();
    const d = defaultConfig();
    const statuses: { source?: { up: boolean } }[] = [];
    const sub = await mqtt.connectAsync(broker.url);
    sub.on('message', (topic, p) => {
      if (topic.endsWith('/mount-cam/status')) statuses.push(JSON.parse(p.toString()));
    });
    await sub.subscribeAsync('patchline/+/mount-cam/status', { qos: 1 });
    const service = new InspectionService(
      {
        ...d,
        camera: 'mount-cam',
        source: folderSource(images, { watch: true, pollMs: 100 }),
        model: { ...d.model, bank, modelDir: models, threads: 1 },
        mqtt: { ...d.mqtt, url: broker.url },
        metrics: { enabled: true, host: '127.0.0.1', port },
        ui: { ...d.ui, port: 0 },
      },
      () => {},
    );
    await service.start();
    await waitFor(() => service.stats.framesOut >= 1, 'the first image');
    renameSync(images, `${images}.unmounted`);
    await waitFor(() => !service.health.source.up, 'the source to be reported down', [], 10_000);
    const readyz = await fetch(`http://127.0.0.1:${port}/readyz`);
    assert.equal(readyz.status, 503);
    assert.match(await readyz.text(), /source down: cannot read folder .*ENOENT/);
    assert.equal((await fetch(`http://127.0.0.1:${port}/healthz`)).status, 200, 'alive: no restart for a missing folder');
    assert.match(await service.metrics.text(), /^patchline_source_up 0$/m);
    renameSync(`${images}.unmounted`, images);
    put('b.png', 1);
    await waitFor(() => service.stats.framesOut >= 2, 'the image after the folder returned');
    assert.equal(service.health.source.up, true);
    assert.match(await service.metrics.text(), /^patchline_source_up 1$/m);
    await service.stop();
    await sub.endAsync();
    assert.ok(statuses.some((s) => s.source?.up === false) && statuses.at(-1)?.source !== undefined, JSON.stringify(statuses));
  });

  test("a folder read faster than inference loses no file with the default queue policy ('auto' blocks for files); drop-oldest still drops and counts", async () => {
    const cv = await loadOpenCV();
    const images = mkdtempSync(join(tmpdir(), 'patchline-replay-'));
    const web = new SyntheticWeb({ width: 224, seed: 7, defectEvery: 0 });
    const files = 24;
    for (let i = 0; i < files; i++)
      cv.imwrite(
        join(images, `${String(i).padStart(3, '0')}.png`),
        new cv.Mat(Buffer.from(web.render(i * 224, 224)), 224, 224, cv.CV_8UC3),
      );
    const d = defaultConfig();
    const replay = async (queuePolicy: Config['pipeline']['queuePolicy']) => {
      const service = new InspectionService(
        {
          ...d,
          source: folderSource(images),
          model: { ...d.model, bank, modelDir: models, threads: 1 },
          mqtt: { ...d.mqtt, url: broker.url },
          metrics: { enabled: false, host: '127.0.0.1', port: 0 },
          ui: { ...d.ui, port: 0 },
          // A queue of 2 makes the folder outrun inference at once.
          pipeline: { ...d.pipeline, queueSize: 2, queuePolicy },
        },
        () => {},
      );
      await service.start();
      await service.done();
      const dropped = metricValue(await service.metrics.text(), 'patchline_frames_dropped_total', '{reason="queue_full"}');
      const scored = service.stats.framesOut;
      await service.stop();
      return { scored, dropped };
    };
    assert.deepEqual(await replay(d.pipeline.queuePolicy), { scored: files, dropped: 0 });
    const lossy = await replay('drop-oldest');
    assert.ok(lossy.dropped > 0, 'the folder does outrun inference');
    assert.equal(lossy.scored + lossy.dropped, files, 'each dropped file counted');
  });

  test('SIGTERM with nothing in flight exits well before drainTimeoutMs', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'patchline-drain-'));
    const images = join(dir, 'in');
    mkdirSync(images);
    const config = join(dir, 'run.yaml');
    writeFileSync(
      config,
      `source: { type: folder, path: ${images}, watch: true }\nmodel: { bank: ${bank}, modelDir: ${models} }\nmqtt: { url: ${broker.url} }\nmetrics: { port: ${await freePort()} }\nui: { port: 0 }\npipeline: { drainTimeoutMs: 20000 }\n`,
    );
    const proc = spawn(
      process.execPath,
      ['--import', 'tsx', join(PROJECT_ROOT, 'src', 'cli', 'main.ts'), 'run', '--config', config, '--quiet'],
      {
        cwd: PROJECT_ROOT,
        env: { ...process.env, PATCHLINE_CACHE_DIR: cache },
      },
    );
    let stderr = '';
    proc.stderr.on('data', (d) => (stderr += d));
    await waitFor(() => /running: metrics at/.test(stderr), 'the service to run', [], 60_000);
    const exited = new Promise<number | null>((r) => proc.once('exit', (c) => r(c)));
    const t0 = Date.now();
    proc.kill('SIGTERM');
    assert.equal(await exited, 0, stderr);
    const ms = Date.now() - t0;
    assert.ok(ms < 5000, `exit took ${ms} ms with drainTimeoutMs 20000`);
  });
});

describe('health', () => {
  test('stalled when frames are queued or files wait and nothing moves; a source that is down is not a stall', () => {
    let now = 0;
    let depth = 0;
    const h = new Health(
      10_000,
      () => depth,
      () => now,
    );
    assert.equal(h.alive(true, undefined).ok, true);
    h.backlog = 3;
    now = 9_000;
    assert.equal(h.alive(true, undefined).ok, true);
    now = 11_000;
    assert.match(h.alive(true, undefined).detail, /stalled: 3 item\(s\) waiting at the source, no frame read for 11 s/);
    h.frameIn();
    assert.equal(h.alive(true, undefined).ok, true);
    depth = 2;
    now = 22_000;
    assert.match(h.alive(true, undefined).detail, /stalled: 2 frame\(s\) queued, no result for 22 s/);
    h.result();
    h.frameIn();
    h.source = { up: false, detail: 'folder gone' };
    now = 40_000;
    depth = 0;
    assert.equal(h.alive(true, undefined).ok, true, 'a source that is down is waited for, not restarted');
    assert.match(h.ready(true, undefined, true).detail, /source down: folder gone/);
    assert.match(h.alive(true, new Error('boom')).detail, /pipeline failed: boom/);
  });
});
