// Bank stores and the bank commands: numbered versions written atomically, activation and
// rollback, pruning, the audit log, a full disk that leaves the active version alone, a
// `patchline bank add` killed midway that leaves no version, and the incremental update
// itself (added images stop scoring as anomalies, the rest of the bank is kept).
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { appendFileSync, copyFileSync, existsSync, mkdirSync, mkdtempSync, readdirSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { before, describe, test } from 'node:test';
import { InferenceRuntime } from '../src/model/inference-runtime.js';
import { readBank } from '../src/patchcore/bank-file.js';
import { bankBackbone, PatchCore } from '../src/patchcore/patchcore.js';
import { loadBatch } from '../src/preprocess/batch.js';
import { readAudit } from '../src/recipes/audit-log.js';
import { activateVersion, addImages, backboneFrom, importBank, rollbackVersion, setThreshold } from '../src/recipes/bank-operations.js';
import { BankStore, StoreError } from '../src/recipes/bank-store.js';
import { useTestCache } from './helpers/cache.js';
import { CLI_TIMEOUT_MS } from './helpers/cli.js';
import { PROJECT_ROOT, SHARED_DIR } from './helpers/shared.js';
import { fitWebBank } from './helpers/web-bank.js';

useTestCache();
const models = join(SHARED_DIR, 'models');
const haveModel = existsSync(join(models, 'mobilenetv2-12-int8.onnx'));
if (!haveModel)
  process.stderr.write(`\n!!! SKIPPED: ${models}/mobilenetv2-12-int8.onnx is absent: bank store tests need the zoo MobileNetV2\n`);
const CLI = join(PROJECT_ROOT, 'bin', 'patchline.js');
const who = { actor: 'test' };

describe('bank store', { skip: !haveModel }, () => {
  let bank: string;
  before(async () => {
    bank = await fitWebBank(models);
  });

  test('versions, activation, rollback through the history, pruning that keeps the active one and its rollback target', async () => {
    const dir = join(mkdtempSync(join(tmpdir(), 'patchline-store-')), 'tiles');
    const store = BankStore.open(dir, { create: true, keep: 3 });
    assert.equal(store.name, 'tiles');
    assert.throws(() => store.activePath(), /no active version/);
    const v1 = await importBank(store, bank, { ...who, activate: true });
    assert.equal(v1.id, 'tiles@v1');
    assert.equal(store.activePath(), store.path(1));
    const v2 = await setThreshold(store, 5, { note: 'test' }, { activate: true }, who);
    const v3 = await setThreshold(store, 6, { note: 'test' }, {}, who);
    assert.deepEqual([v2.version, v3.version], [2, 3]);
    assert.equal(store.activeVersion(), 2, 'a new version is not active unless asked');
    const listed = await store.versions();
    assert.deepEqual(
      listed.map((v) => [v.id, v.active, v.threshold, v.origin?.action]),
      [
        ['tiles@v1', false, listed[0]!.threshold, 'import'],
        ['tiles@v2', true, 5, 'threshold'],
        ['tiles@v3', false, 6, 'threshold'],
      ],
    );
    assert.equal((await readBank(store.path(2))).manifest.origin?.parent, 'tiles@v1');
    activateVersion(store, 3, who);
    assert.deepEqual(rollbackVersion(store, who), { before: 'tiles@v3', after: 'tiles@v2' });
    assert.deepEqual(rollbackVersion(store, who), { before: 'tiles@v2', after: 'tiles@v1' });
    assert.throws(() => rollbackVersion(store, who), /nothing to roll back to/);
    assert.throws(() => store.activate(9), /no version v9 \(versions: v1, v2, v3\)/);
    assert.throws(() => store.remove(1), /active version/);
    // keep 3: adding v4 and v5 prunes v2 and v3, never v1 (active).
    await setThreshold(store, 7, { note: 'test' }, {}, who);
    await setThreshold(store, 8, { note: 'test' }, {}, who);
    assert.deepEqual(store.numbers(), [1, 4, 5]);
    const log = readAudit(store.auditFile);
    assert.deepEqual(
      log.map((e) => e.action),
      ['import', 'activate', 'threshold', 'activate', 'threshold', 'activate', 'rollback', 'rollback', 'threshold', 'threshold'],
    );
    assert.ok(log.every((e) => e.actor === 'test' && e.recipe === 'tiles' && e.at));
    // A line cut short by a crash is skipped, the rest still read.
    appendFileSync(store.auditFile, '{"at":"2026-');
    assert.equal(readAudit(store.auditFile).length, log.length);
  });

  test('two writers never take the same number; temporary files of a dead writer are removed on open', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'patchline-store-'));
    const a = BankStore.open(dir);
    const b = BankStore.open(dir);
    const { manifest, rows } = await readBank(bank);
    const { format: _f, version: _v, dataSha256: _d, ...m } = manifest;
    const x = a.add(m, rows);
    const y = b.add(m, rows);
    assert.deepEqual([x.version, y.version], [1, 2]);
    writeFileSync(join(dir, 'incoming-999999-0.bank'), 'half a bank');
    writeFileSync(join(dir, 'active.json.999999.tmp'), '{');
    BankStore.open(dir);
    assert.deepEqual(readdirSync(dir).sort(), ['v0001.bank', 'v0002.bank']);
  });

  test('a full disk while writing a version leaves the active one in use and no partial file', async (t) => {
    const mnt = mkdtempSync(join(tmpdir(), 'patchline-full-'));
    const size = statSync(bank).size;
    const mounted = spawnSync('mount', ['-t', 'tmpfs', '-o', `size=${Math.ceil((size * 1.5) / 4096) * 4096}`, 'tmpfs', mnt]);
    if (mounted.status !== 0) {
      const msg = `SKIPPED: cannot mount a small tmpfs to fill (${mounted.stderr.toString().trim()}): the full-disk case is not checked here`;
      process.stderr.write(`\n!!! ${msg}\n`);
      t.skip(msg);
      return;
    }
    try {
      const store = BankStore.open(join(mnt, 'r'), { create: true });
      await importBank(store, bank, { ...who, activate: true });
      await assert.rejects(setThreshold(store, 3, { note: 'fills the disk' }, { activate: true }, who), /ENOSPC/);
      assert.deepEqual(store.numbers(), [1]);
      assert.equal(store.activeVersion(), 1);
      assert.deepEqual(readdirSync(store.dir).sort(), ['active.json', 'audit.jsonl', 'v0001.bank']);
      await readBank(store.activePath());
    } finally {
      spawnSync('umount', [mnt]);
    }
  });

  test('bank add killed midway (SIGKILL) writes no version; the active one stays whole', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'patchline-store-'));
    const store = BankStore.open(join(dir, 's'), { create: true });
    await importBank(store, bank, { ...who, activate: true });
    const images = join(dir, 'images');
    mkdirSync(images);
    const train = join((await readBank(bank)).manifest.training.folder);
    for (const f of readdirSync(train).slice(0, 40)) copyFileSync(join(train, f), join(images, f));
    const child = spawn(process.execPath, [CLI, 'bank', 'add', '--store', store.dir, '--images', images, '--model-dir', models], {
      env: { ...process.env, PATCHLINE_PROGRESS: 'json' },
      stdio: ['ignore', 'ignore', 'pipe'],
    });
    // Killed once it is embedding (progress says so).
    await new Promise<void>((resolve, reject) => {
      child.stderr!.on('data', (d: Buffer) => {
        if (/"progress":"embed","done":[1-9]/.test(d.toString())) resolve();
      });
      child.on('exit', () => reject(new Error('bank add ended before it could be killed')));
    });
    child.kill('SIGKILL');
    await new Promise((r) => child.once('close', r));
    assert.deepEqual(store.numbers(), [1]);
    assert.equal(store.activeVersion(), 1);
    await readBank(store.activePath());
    const reopened = BankStore.open(store.dir);
    assert.deepEqual(
      readdirSync(reopened.dir).filter((f) => f.endsWith('.tmp') || f.startsWith('incoming')),
      [],
      'nothing half-written left',
    );
  });

  test('bank add: added good images stop scoring as anomalies, the old rows are kept, the threshold is recalibrated', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'patchline-store-'));
    const store = BankStore.open(join(dir, 's'), { create: true });
    await importBank(store, bank, { ...who, activate: true });
    // New "good" product variant: the web with another texture seed, which the bank has never seen.
    const { writeWebTiles } = await import('../src/demo/web-bank.js');
    const variant = await writeWebTiles(join(dir, 'variant'), 224 * 6, 4242);
    const before = await readBank(store.activePath());
    const runtime = new InferenceRuntime({ intraOpThreads: 2 });
    try {
      const score = async (file: string, files: string[]) => {
        const b = await readBank(file);
        const model = await PatchCore.load(runtime, b, bankBackbone(b.manifest, { modelDir: models }), `s${Math.random()}`);
        const p = await model.predict(await loadBatch(files, b.manifest.input.resize, b.manifest.input.normalization));
        await model.release();
        return Array.from(p.imageScores);
      };
      const first = variant.slice(0, 8);
      const scoresBefore = await score(store.activePath(), first);
      const added = await addImages(
        runtime,
        store,
        backboneFrom({ modelDir: models }),
        { files: first, folder: join(dir, 'variant'), batchSize: 4, activate: true },
        who,
        { stage: () => ({ tick() {}, stop() {} }) },
      );
      const after = await readBank(store.activePath());
      const per = after.manifest.grid.height * after.manifest.grid.width;
      assert.equal(added.result.patches, 8 * per);
      assert.equal(added.result.added, Math.floor(8 * per * before.manifest.coreset.percentage));
      assert.equal(after.manifest.coreset.rows, before.manifest.coreset.rows + added.result.added);
      assert.deepEqual(after.rows.subarray(0, before.rows.length), before.rows, 'the bank rows are kept, in order');
      assert.equal(after.manifest.origin?.parent, 's@v1');
      assert.equal(after.manifest.training.additions?.[0]?.images, 8);
      assert.match(added.result.threshold.how, /recalibrated on \d+ held-out good images/);
      const scoresAfter = await score(store.activePath(), first);
      const t = after.manifest.calibration.threshold;
      assert.ok(
        scoresAfter.every((s) => s < t),
        `added images below the threshold ${t}: ${scoresAfter.map((s) => s.toFixed(2))} (before: ${scoresBefore.map((s) => s.toFixed(2))})`,
      );
      assert.ok(Math.max(...scoresBefore) > Math.max(...scoresAfter));
      assert.deepEqual(
        readAudit(store.auditFile).map((e) => e.action),
        ['import', 'activate', 'add', 'activate'],
      );
    } finally {
      await runtime.close();
    }
  });

  test('bank commands: errors name the option or the store', () => {
    const run = (...args: string[]) =>
      spawnSync(process.execPath, [CLI, ...args], { encoding: 'utf8', timeout: CLI_TIMEOUT_MS, killSignal: 'SIGKILL' });
    const missing = run('bank', 'list', '--store', '/nonexistent/store');
    assert.equal(missing.status, 2);
    assert.match(missing.stderr, /bank store \/nonexistent\/store does not exist/);
    const both = run('bank', 'activate', '--store', '/tmp', '--config', 'x.yaml', '--version', '1');
    assert.match(both.stderr, /give --store or --config, not both/);
    const badVersion = run('bank', 'activate', '--store', '/tmp', '--version', 'latest');
    assert.match(badVersion.stderr, /--version must be a version number like 3 or v3, got 'latest'/);
    const sub = run('bank', 'frobnicate');
    assert.match(sub.stderr, /unknown subcommand 'frobnicate' \(list, import, activate, rollback, add, threshold, discard\)/);
    assert.throws(() => BankStore.open('/nonexistent/x'), StoreError);
    const teach = run('teach', '--store', mkdtempSync(join(tmpdir(), 'patchline-store-')), '--images', '/tmp');
    assert.match(teach.stderr, /--like BANK is required for the first version/);
  });
});
