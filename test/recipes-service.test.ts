// Recipes in the running service, against a real mosquitto: a version activated and rolled back
// from the command line while frames stream, and recipe switches by MQTT and Sparkplug under
// full load, lose no frame and every result names the bank that scored it; an unknown recipe is
// refused on the status topic; the recipe is a label on the metrics. A service killed (SIGKILL,
// with its fitting child) in the middle of a teach restarts on the previous version.
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import mqtt from 'mqtt';
import sparkplug from 'sparkplug-payload';
import { defaultConfig } from '../src/config/load.js';
import type { Config } from '../src/config/schema.js';
import type { ScoredFrame } from '../src/core/frame.js';
import { readBank } from '../src/patchcore/bank-file.js';
import { statusSchema } from '../src/publish/payload-schema.js';
import { activateVersion, importBank, rollbackVersion, setThreshold } from '../src/recipes/bank-operations.js';
import { BankStore } from '../src/recipes/bank-store.js';
import { InspectionService } from '../src/service/service.js';
import type { RecipesView } from '../src/ui/protocol.js';
import { useTestCache } from './helpers/cache.js';
import { waitFor } from './helpers/wait.js';
import { freePort, Mosquitto } from './helpers/mosquitto.js';
import { PROJECT_ROOT, SHARED_DIR } from './helpers/shared.js';
import { fitWebBank } from './helpers/web-bank.js';

useTestCache();
const models = join(SHARED_DIR, 'models');
const haveModel = existsSync(join(models, 'mobilenetv2-12-int8.onnx'));
if (!haveModel)
  process.stderr.write(`\n!!! SKIPPED: ${models}/mobilenetv2-12-int8.onnx is absent: recipe service tests need the zoo MobileNetV2\n`);
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const who = { actor: 'test' };
const spb = sparkplug.get('spBv1.0')!;

/** Two recipes: a (v1 the web bank, v2 the same rows with another threshold) and b (the web bank at another coreset share). */
async function makeStores(bankA: string, bankB: string): Promise<{ a: BankStore; b: BankStore; dir: string }> {
  const dir = mkdtempSync(join(tmpdir(), 'patchline-recipes-'));
  const a = BankStore.open(join(dir, 'a'), { name: 'a', create: true });
  const b = BankStore.open(join(dir, 'b'), { name: 'b', create: true });
  await importBank(a, bankA, { ...who, activate: true });
  const t = (await readBank(bankA)).manifest.calibration.threshold;
  await setThreshold(a, t * 2, { note: 'test' }, {}, who);
  await importBank(b, bankB, { ...who, activate: true });
  return { a, b, dir };
}

function recipeConfig(dir: string, broker: string, linesPerSecond: number): Config {
  const d = defaultConfig();
  return {
    ...d,
    source: { type: 'synthetic-web', width: 448, linesPerChunk: 32, linesPerSecond, seed: 1, defectEvery: 700, lines: 0 },
    model: { ...d.model, recipe: 'a', modelDir: models, threads: 2 },
    recipes: { a: { store: join(dir, 'a'), keep: 10 }, b: { store: join(dir, 'b'), keep: 10 } },
    pipeline: { ...d.pipeline, queuePolicy: 'block' },
    mqtt: { ...d.mqtt, url: broker, sparkplug: { ...d.mqtt.sparkplug, enabled: true } },
    metrics: { enabled: false, host: '127.0.0.1', port: 0 },
    ui: { ...d.ui, enabled: false },
  };
}

/** Seqs 0..n-1 each exactly once, and every result's threshold is its bank's. */
function assertNoFrameLost(frames: ScoredFrame[], thresholds: Map<string, number>): void {
  const seqs = frames.map((f) => f.seq);
  assert.deepEqual(
    seqs,
    Array.from({ length: seqs.length }, (_, i) => i),
    'every frame scored once, in order',
  );
  for (const f of frames) assert.equal(f.threshold, thresholds.get(f.bankId), `frame ${f.seq} scored by ${f.bankId}`);
}

describe('recipes in the running service', { skip: !haveModel }, () => {
  let broker: Mosquitto;
  let bankA: string;
  let bankB: string;
  before(async () => {
    broker = await Mosquitto.start();
    bankA = await fitWebBank(models, 0.1);
    bankB = await fitWebBank(models, 0.05);
  });
  after(() => broker?.stop());

  async function thresholds(stores: BankStore[]): Promise<Map<string, number>> {
    const m = new Map<string, number>();
    for (const s of stores) for (const v of await s.versions()) m.set(v.id, v.threshold!);
    return m;
  }

  test('activate and roll back from the command line while frames stream: no frame lost, results name their version', async () => {
    const { a, b, dir } = await makeStores(bankA, bankB);
    const frames: ScoredFrame[] = [];
    const service = new InspectionService(
      recipeConfig(dir, broker.url, 1500),
      () => undefined,
      (f) => frames.push(f),
    );
    await service.start();
    try {
      await waitFor(() => frames.length > 5, 'first results');
      assert.equal(frames[0]!.bankId, 'a@v1');
      activateVersion(a, 2, who);
      await waitFor(() => frames.at(-1)?.bankId === 'a@v2', 'a@v2 in the results');
      const atV2 = frames.length;
      await waitFor(() => frames.length > atV2 + 5, 'more results');
      rollbackVersion(a, who);
      await waitFor(() => frames.at(-1)?.bankId === 'a@v1' && frames.length > atV2 + 10, 'a@v1 again');
    } finally {
      await service.stop();
    }
    assertNoFrameLost(frames, await thresholds([a, b]));
    const order = frames.map((f) => f.bankId).filter((id, i, all) => id !== all[i - 1]);
    assert.deepEqual(order, ['a@v1', 'a@v2', 'a@v1']);
  });

  test('recipe switch under full load by MQTT and by Sparkplug: no frame lost; unknown recipe refused on the status topic; recipe label on the metrics', async () => {
    const { a, b, dir } = await makeStores(bankA, bankB);
    const frames: ScoredFrame[] = [];
    const config = recipeConfig(dir, broker.url, 0);
    config.metrics = { enabled: true, host: '127.0.0.1', port: await freePort() };
    const service = new InspectionService(
      config,
      () => undefined,
      (f) => frames.push(f),
    );
    const client = await mqtt.connectAsync(broker.url);
    const statuses: Record<string, unknown>[] = [];
    await client.subscribeAsync('patchline/line1/cam1/status');
    client.on('message', (_t, payload) => {
      const s = JSON.parse(payload.toString()) as Record<string, unknown>;
      assert.ok(statusSchema.safeParse(s).success, JSON.stringify(s));
      statuses.push(s);
    });
    await service.start();
    try {
      await waitFor(() => frames.length > 5, 'first results');
      await client.publishAsync('patchline/line1/cam1/command', JSON.stringify({ command: 'select-recipe', recipe: 'zzz' }));
      const refused = await waitFor(
        () => statuses.find((s) => (s.command as { ok?: boolean } | undefined)?.ok === false),
        'the refusal on the status topic',
      );
      assert.match((refused.command as { detail: string }).detail, /unknown recipe 'zzz' \(recipes: a, b\)/);
      assert.equal(refused.bank, 'a@v1');
      await client.publishAsync('patchline/line1/cam1/command', JSON.stringify({ command: 'select-recipe', recipe: 'b' }));
      await waitFor(() => frames.at(-1)?.bankId === 'b@v1', 'b@v1 in the results');
      const switched = await waitFor(() => statuses.find((s) => s.recipe === 'b'), 'recipe b in the status');
      assert.equal(switched.bank, 'b@v1');
      const metrics = await (await fetch(`${service.metricsUrl}/metrics`)).text();
      assert.match(metrics, /patchline_model_info\{recipe="b",[^}]*bank="b@v1"/);
      await waitFor(
        async () => /patchline_frames_out_total\{recipe="b"\} [1-9]/.test(await (await fetch(`${service.metricsUrl}/metrics`)).text()),
        'frames counted for b',
      );
      // Sparkplug: SCADA writes the device's recipe metric.
      await client.publishAsync(
        'spBv1.0/patchline/DCMD/line1/cam1',
        Buffer.from(spb.encodePayload({ timestamp: Date.now(), metrics: [{ name: 'recipe', type: 'String', value: 'a' }] })),
      );
      await waitFor(() => frames.at(-1)?.bankId === 'a@v1', 'a@v1 after the Sparkplug command');
      const n = frames.length;
      await waitFor(() => frames.length > n + 5, 'more results');
    } finally {
      await service.stop();
      await client.endAsync();
    }
    assertNoFrameLost(frames, await thresholds([a, b]));
    const order = frames.map((f) => f.bankId).filter((id, i, all) => id !== all[i - 1]);
    assert.deepEqual(order, ['a@v1', 'b@v1', 'a@v1']);
    const log = [...(await import('../src/recipes/audit-log.js')).readAudit(b.auditFile)].filter((e) => e.action === 'select-recipe');
    assert.deepEqual(
      log.map((e) => [e.actor, e.before, e.after]),
      [['mqtt', 'a@v1', 'b@v1']],
    );
  });

  test('a service killed (SIGKILL, with its fitting child) during a teach restarts on the previous version, no version written', async () => {
    const { a, dir } = await makeStores(bankA, bankB);
    const token = 'teach-token-0123456789abcdef';
    writeFileSync(join(dir, 'token'), `alice ${token}\n`);
    const uiPort = await freePort();
    const yaml = [
      `source: { type: synthetic-web, width: 448, linesPerChunk: 32, linesPerSecond: 1500, seed: 1, defectEvery: 700, lines: 0 }`,
      `model: { recipe: a, modelDir: ${models}, threads: 1 }`,
      `recipes: { a: { store: ${join(dir, 'a')} }, b: { store: ${join(dir, 'b')} } }`,
      `mqtt: { url: ${broker.url} }`,
      `metrics: { enabled: false }`,
      `ui: { port: ${uiPort}, dataDir: ${join(dir, 'ui')}, tokenFile: ${join(dir, 'token')} }`,
    ].join('\n');
    const configFile = join(dir, 'patchline.yaml');
    writeFileSync(configFile, `${yaml}\n`);
    const url = `http://127.0.0.1:${uiPort}`;
    const start = () =>
      spawn(process.execPath, [join(PROJECT_ROOT, 'bin', 'patchline.js'), 'run', '--config', configFile, '--quiet'], {
        stdio: 'ignore',
        // Its own process group, as systemd's control group: SIGKILL reaches the fitting child too.
        detached: true,
      });
    const view = async () => (await (await fetch(`${url}/api/recipes`)).json()) as RecipesView;
    let proc = start();
    try {
      await waitFor(() => view().catch(() => undefined), 'the page', 120_000);
      const res = await fetch(`${url}/api/recipes/teach`, {
        method: 'POST',
        headers: { 'content-type': 'application/json', 'x-patchline-token': token },
        body: JSON.stringify({ recipe: 'a', frames: 60 }),
      });
      assert.equal(res.status, 200, await res.clone().text());
      await waitFor(async () => ['embed', 'coreset'].includes((await view()).job?.phase ?? ''), 'the fit running in its child', 120_000);
      process.kill(-proc.pid!, 'SIGKILL');
      await new Promise((r) => proc.once('exit', r));
      await sleep(500);
      assert.deepEqual(a.numbers(), [1, 2], 'no version written by the killed teach');
      assert.equal(a.activeVersion(), 1);
      assert.deepEqual(
        readdirSync(a.dir).filter((f) => f.endsWith('.tmp') || f.startsWith('incoming')),
        [],
      );
      proc = start();
      const after = await waitFor(() => view().catch(() => undefined), 'the page after the restart', 120_000);
      assert.equal(after.running, 'a@v1');
      assert.equal(after.current, 'a');
      // The audit log names who started the teach; the killed teach wrote no 'teach' entry.
      const audit = (await (await fetch(`${url}/api/audit`)).json()) as { action: string }[];
      assert.ok(!audit.some((e) => e.action === 'teach'));
    } finally {
      try {
        process.kill(-proc.pid!, 'SIGTERM');
      } catch {
        // already gone
      }
      await new Promise((r) => (proc.exitCode !== null ? r(null) : proc.once('exit', r)));
    }
  });
});
