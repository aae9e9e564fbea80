// The inspection service against a real mosquitto on loopback: results complete and in order,
// a 10 s broker outage loses nothing (QoS 1), metrics say what happened, every documented
// metric is exported, and the retained status goes offline on a clean stop.
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import mqtt from 'mqtt';
import { defaultConfig } from '../src/config/load.js';
import { queuePolicyOf, type Config } from '../src/config/schema.js';
import { resultSchema, statusSchema } from '../src/publish/payload-schema.js';
import { InspectionService } from '../src/service/service.js';
import { useTestCache } from './helpers/cache.js';
import { freePort, Mosquitto } from './helpers/mosquitto.js';
import { PROJECT_ROOT, SHARED_DIR } from './helpers/shared.js';
import { fitWebBank, useWebBankAndBroker } from './helpers/web-bank.js';

useTestCache();
const models = join(SHARED_DIR, 'models');
const haveModel = existsSync(join(models, 'mobilenetv2-12-int8.onnx'));
if (!haveModel)
  process.stderr.write(`\n!!! SKIPPED: ${models}/mobilenetv2-12-int8.onnx is absent: service tests need the zoo MobileNetV2\n`);

async function config(bank: string, broker: string, lines: number, linesPerSecond: number): Promise<Config> {
  return {
    ...defaultConfig(),
    source: { type: 'synthetic-web', width: 448, linesPerChunk: 32, linesPerSecond, seed: 1, defectEvery: 700, lines },
    model: { ...defaultConfig().model, bank, modelDir: models, threads: 2, executionProviders: ['tensorrt', 'cuda', 'cpu'] },
    mqtt: { ...defaultConfig().mqtt, url: broker, heatmap: { enabled: true, format: 'float16', maxPerSecond: 5, quality: 80 } },
    metrics: { enabled: true, host: '127.0.0.1', port: await freePort() },
    ui: { ...defaultConfig().ui, port: 0 },
  };
}

interface Collected {
  seqs: number[];
  invalid: string[];
  statuses: string[];
  heatmaps: number;
  client: mqtt.MqttClient;
}

async function subscribe(url: string): Promise<Collected> {
  const c: Collected = {
    seqs: [],
    invalid: [],
    statuses: [],
    heatmaps: 0,
    client: await mqtt.connectAsync(url, { reconnectPeriod: 50, protocolVersion: 5 }),
  };
  await c.client.subscribeAsync('patchline/#', { qos: 1 });
  c.client.on('connect', () => void c.client.subscribeAsync('patchline/#', { qos: 1 }));
  c.client.on('message', (topic, payload) => {
    const check = (schema: typeof resultSchema | typeof statusSchema) => {
      const r = schema.safeParse(JSON.parse(payload.toString()));
      if (!r.success) c.invalid.push(`${topic}: ${r.error.message}`);
    };
    if (topic.endsWith('/result')) {
      check(resultSchema);
      c.seqs.push(JSON.parse(payload.toString()).seq);
    } else if (topic.endsWith('/status')) {
      check(statusSchema);
      c.statuses.push(JSON.parse(payload.toString()).state);
    } else if (topic.endsWith('/heatmap')) c.heatmaps++;
  });
  return c;
}

async function scrape(url: string): Promise<string> {
  return (await fetch(`${url}/metrics`)).text();
}

function metricValue(text: string, name: string): number {
  const line = text.split('\n').find((l) => l.startsWith(`${name} `) || l.startsWith(`${name}{`));
  return line ? Number(line.split(' ').pop()) : NaN;
}

describe('inspection service with mosquitto', { skip: !haveModel }, () => {
  const ctx = useWebBankAndBroker(models);

  test("results arrive complete and in order, a web row a call (batchSize 'row'); documented metrics are exported; status goes offline on stop", async () => {
    const sub = await subscribe(ctx.broker.url);
    const logged: string[] = [];
    const resultsFile = join(mkdtempSync(join(tmpdir(), 'patchline-results-')), 'results.jsonl');
    const c = await config(ctx.bank, ctx.broker.url, 1200, 0);
    const service = new InspectionService({ ...c, pipeline: { ...c.pipeline, batchSize: 'row' }, output: { resultsFile } }, (s) =>
      logged.push(s),
    );
    await service.start();
    // This onnxruntime is CPU-only: TensorRT and CUDA are skipped with a warning and a metric label.
    assert.ok(
      logged.some((l) => /execution provider 'tensorrt' is not available/.test(l)),
      logged.join('\n'),
    );
    assert.ok(logged.some((l) => /execution provider 'cuda' is not available/.test(l)));
    const health = await fetch(`${service.metricsUrl}/healthz`);
    assert.equal(health.status, 200);
    await new Promise((r) => setTimeout(r, 300));
    const midRun = await scrape(service.metricsUrl!);
    assert.match(midRun, /patchline_execution_provider_info\{requested="tensorrt,cuda,cpu",active="cpu"\} 1/);
    await service.done();
    const end = await scrape(service.metricsUrl!);
    await service.stop();
    await new Promise((r) => setTimeout(r, 300));
    await sub.client.endAsync();
    const n = service.stats.framesOut;
    // 1200 lines: tile rows at 0, 192, ..., 960 (6 rows) x 3 columns, one inference call a row.
    assert.equal(n, 18);
    assert.match(end, /^patchline_batch_size_sum 18$/m);
    assert.match(end, /^patchline_batch_size_count 6$/m);
    assert.deepEqual(
      sub.seqs,
      Array.from({ length: n }, (_, i) => i),
    );
    assert.deepEqual(sub.statuses.slice(-1), ['offline']);
    assert.ok(sub.statuses.includes('online'));
    assert.ok(sub.heatmaps > 0);
    assert.deepEqual(sub.invalid, [], 'payloads match the documented JSON Schemas');
    // The local results file holds the same payloads, one per line, in order.
    const lines = readFileSync(resultsFile, 'utf8')
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l));
    assert.deepEqual(
      lines.map((l) => l.seq),
      sub.seqs,
    );
    for (const l of lines) assert.equal(resultSchema.safeParse(l).success, true, JSON.stringify(l).slice(0, 200));
    const documented = [
      ...readFileSync(join(PROJECT_ROOT, 'docs', 'metrics.md'), 'utf8').matchAll(/`((?:patchline|nodejs)_[a-z_]+)`/g),
    ].map((m) => m[1]!);
    assert.ok(documented.length >= 20);
    for (const name of new Set(documented))
      assert.match(midRun, new RegExp(`^(# TYPE )?${name}[ {]`, 'm'), `${name} is documented but not exported`);
    // Every metric the Grafana dashboard and the alert rules use is exported by the service.
    const monitoring = ['grafana-dashboard.json', 'patchline-alerts.yml']
      .map((f) => readFileSync(join(PROJECT_ROOT, 'deploy', 'monitoring', f), 'utf8'))
      .join('\n');
    const used = new Set([...monitoring.matchAll(/\b((?:patchline|nodejs)_[a-z_]+?)(?:_bucket|_sum|_count)?\b/g)].map((m) => m[1]!));
    assert.ok(used.size >= 12, `dashboard and alerts use ${used.size} metrics`);
    for (const name of used)
      assert.match(midRun, new RegExp(`^# TYPE ${name} `, 'm'), `${name} is used by deploy/monitoring but not exported`);
    for (const name of used) assert.ok(documented.includes(name), `${name} is used by deploy/monitoring but not in docs/metrics.md`);
  });

  test("a 4096-px web at a rate inference keeps up with loses no tile with the default queue: a row's 22 tiles arrive at once", async () => {
    const logged: string[] = [];
    const c = await config(ctx.bank, ctx.broker.url, 1000, 200);
    const live: Config = {
      ...c,
      source: { type: 'synthetic-web', width: 4096, linesPerChunk: 64, linesPerSecond: 200, seed: 1, defectEvery: 700, lines: 1000 },
      mqtt: { ...c.mqtt, heatmap: { ...c.mqtt.heatmap, enabled: false } },
    };
    assert.equal(live.pipeline.queueSize, 16);
    assert.equal(queuePolicyOf(live), 'drop-oldest', 'a web at a line rate is a live source');
    const service = new InspectionService(live, (s) => logged.push(s));
    await service.start();
    await service.done();
    const text = await scrape(service.metricsUrl!);
    await service.stop();
    // 1000 lines: tile rows at 0, 192, ..., 768 (5 rows) x 22 columns, at 200 lines/s (a third of
    // what this box scores); a queue of 16 dropped 18 % of such tiles.
    assert.equal(service.stats.framesOut, 110);
    assert.doesNotMatch(text, /^patchline_frames_dropped_total\{reason="queue_full"\} [1-9]/m);
    assert.ok(
      logged.some((l) => /queue: holds 44 tiles, two web rows/.test(l)),
      logged.join('\n'),
    );
  });

  test('a 10 s broker outage mid-stream loses no result and keeps the order; the queue metric shows it', async () => {
    const sub = await subscribe(ctx.broker.url);
    const service = new InspectionService(await config(ctx.bank, ctx.broker.url, 2100, 120), () => {});
    await service.start();
    await new Promise((r) => setTimeout(r, 3000));
    await ctx.broker.stop();
    let queuedPeak = 0;
    const until = Date.now() + 10_000;
    while (Date.now() < until) {
      await new Promise((r) => setTimeout(r, 1000));
      queuedPeak = Math.max(queuedPeak, metricValue(await scrape(service.metricsUrl!), 'patchline_mqtt_queued_messages'));
    }
    const connectedDuringOutage = metricValue(await scrape(service.metricsUrl!), 'patchline_mqtt_connected');
    await ctx.broker.start();
    await service.done();
    await service.stop();
    await new Promise((r) => setTimeout(r, 500));
    await sub.client.endAsync();
    const n = service.stats.framesOut;
    assert.ok(n >= 30, `expected the web to be scored, got ${n} frames`);
    assert.equal(connectedDuringOutage, 0);
    assert.ok(queuedPeak > 0, 'results were queued while the broker was away');
    // QoS 1: every result at least once; first deliveries in order.
    const firsts = sub.seqs.filter((s, i) => sub.seqs.indexOf(s) === i);
    assert.deepEqual(
      firsts,
      Array.from({ length: n }, (_, i) => i),
    );
    assert.equal(metricValue(await service.metrics.text(), 'patchline_mqtt_dropped_total'), 0);
  });
});

describe('bank hot reload under a running stream', { skip: !haveModel }, () => {
  let broker: Mosquitto;
  before(async () => {
    broker = await Mosquitto.start();
  });
  after(() => broker.stop());

  test('a bank written over the file, then an MQTT command, switch banks between batches without losing a frame', async () => {
    const { copyFileSync, renameSync } = await import('node:fs');
    const first = await fitWebBank(models);
    const second = await fitWebBank(models, 0.05);
    const live = join(first, '..', 'live.bank');
    copyFileSync(first, live);
    const sub = await subscribe(broker.url);
    const banks: string[] = [];
    sub.client.on('message', (topic, p) => {
      if (topic.endsWith('/result')) banks.push(JSON.parse(p.toString()).bank);
    });
    const logs: string[] = [];
    // An endless web at 150 lines/s, stopped once the third bank has scored frames: the test does
    // not depend on how fast this machine loads a bank.
    const service = new InspectionService(await config(live, broker.url, 0, 150), (s) => logs.push(s));
    const waitFor = async (what: () => boolean, label: string) => {
      const until = Date.now() + 60_000;
      while (!what()) {
        if (Date.now() > until) throw new Error(`timed out waiting for ${label}; log:\n${logs.join('\n')}`);
        await new Promise((r) => setTimeout(r, 200));
      }
    };
    await service.start();
    await waitFor(() => banks.length >= 6, 'first results');
    copyFileSync(second, `${live}.tmp`);
    renameSync(`${live}.tmp`, live);
    await waitFor(() => logs.some((l) => l.includes('bank reloaded (file changed)')), 'the file reload');
    await waitFor(() => new Set(banks).size >= 2, 'results from the reloaded file');
    const other = join(first, '..', 'other.bank');
    copyFileSync(first, other);
    await sub.client.publishAsync('patchline/line1/cam1/command', JSON.stringify({ command: 'reload-bank', bank: other }));
    await waitFor(() => banks.filter((b) => b.startsWith('other.bank@')).length >= 3, 'results from the commanded bank');
    await service.stop();
    await new Promise((r) => setTimeout(r, 300));
    await sub.client.endAsync();
    assert.ok(
      logs.some((l) => l.includes('bank reloaded (MQTT command)')),
      logs.join('\n'),
    );
    const n = service.stats.framesOut;
    const firsts = sub.seqs.filter((s, i) => sub.seqs.indexOf(s) === i);
    assert.deepEqual(
      firsts,
      Array.from({ length: n }, (_, i) => i),
      'no frame lost across reloads',
    );
    // Banks change in runs: live.bank (first), live.bank (second), other.bank; never back.
    const runs = banks.filter((b, i) => i === 0 || b !== banks[i - 1]);
    assert.equal(runs.length, 3, runs.join(' -> '));
    assert.ok(
      runs[0]!.startsWith('live.bank@') && runs[1]!.startsWith('live.bank@') && runs[0] !== runs[1] && runs[2]!.startsWith('other.bank@'),
    );
    assert.equal(metricValue(await service.metrics.text(), 'patchline_bank_reloads_total'), 2);
  });
});
