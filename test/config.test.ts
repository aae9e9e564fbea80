// One schema for files and flags: defaults, errors that name file and field, examples that
// validate, and docs generated from the schema.
import assert from 'node:assert/strict';
import { mkdtempSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import { defaultConfig, loadConfig } from '../src/config/load.js';
import { configReferenceRows } from '../src/config/reference.js';
import { queuePolicyOf } from '../src/config/schema.js';
import { runCli } from './helpers/cli.js';
import { PROJECT_ROOT } from './helpers/shared.js';

const dir = mkdtempSync(join(tmpdir(), 'patchline-config-'));

describe('config', () => {
  test('every example in config/ validates', () => {
    const files = readdirSync(join(PROJECT_ROOT, 'config')).filter((f) => f.endsWith('.yaml'));
    assert.ok(files.length >= 5);
    for (const f of files) loadConfig(join(PROJECT_ROOT, 'config', f));
    const gige = loadConfig(join(PROJECT_ROOT, 'config', 'gige-linescan.yaml'));
    assert.equal(gige.source.type, 'capture');
    assert.match(String((gige.source as { device: string }).device), /^aravissrc .* appsink/);
  });

  test('config/patchline.yaml sets exactly the defaults (except the bank)', () => {
    const c = loadConfig(join(PROJECT_ROOT, 'config', 'patchline.yaml'));
    const { bank, ...model } = c.model;
    assert.ok(bank);
    assert.deepEqual({ ...c, model }, defaultConfig());
  });

  test('unknown keys, wrong types, bad values and missing files name the file and field', () => {
    const f = join(dir, 'bad.yaml');
    writeFileSync(f, 'pipeline:\n  batchSize: many\n  queuPolicy: block\nmqtt:\n  qos: 3\n');
    assert.throws(
      () => loadConfig(f),
      (e: Error) =>
        /bad\.yaml: pipeline\.batchSize: expected a whole number of frames \(1 or more\) or 'row', got "many"/.test(e.message) &&
        /bad\.yaml: pipeline: unknown key\(s\) 'queuPolicy'/.test(e.message) &&
        /bad\.yaml: mqtt\.qos/.test(e.message),
    );
    assert.throws(() => loadConfig(join(dir, 'missing.yaml')), /missing\.yaml: cannot read config: ENOENT/);
    writeFileSync(join(dir, 'broken.yaml'), 'a: [1,\n');
    assert.throws(() => loadConfig(join(dir, 'broken.yaml')), /broken\.yaml: not valid YAML/);
    assert.throws(() => loadConfig(undefined, ['pipeline.batchSize=0']), /pipeline\.batchSize: Too small.*after --set/);
    assert.equal(loadConfig(undefined, ['pipeline.batchSize=8', 'mqtt.url=mqtt://b:1883']).pipeline.batchSize, 8);
    assert.equal(loadConfig(undefined, ['pipeline.batchSize=row']).pipeline.batchSize, 'row');
    assert.throws(
      () => loadConfig(undefined, ['pipeline.batchSize=row', 'source.type=folder', 'source.path=/x']),
      /pipeline\.batchSize: 'row' batches the tiles of a line-scan web row, but source\.type 'folder' is not tiled/,
    );
    // Timers hold at most 2^31-1 ms; a prototype key must not reach Object.prototype.
    assert.throws(() => loadConfig(undefined, ['pipeline.drainTimeoutMs=3000000000']), /pipeline\.drainTimeoutMs: Too big/);
    assert.throws(() => loadConfig(undefined, ['source.type=folder', 'source.path=/x', 'source.pollMs=3e9']), /source\.pollMs: Too big/);
    assert.throws(() => loadConfig(undefined, ['__proto__.bank=x']), /'__proto__' is not a config field/);
    assert.throws(() => loadConfig(undefined, ['model.constructor.prototype.x=1']), /'constructor' is not a config field/);
    assert.equal(({} as Record<string, unknown>).bank, undefined);
  });

  test("queuePolicy 'auto' blocks where the source can wait (files, the synthetic web at 0 lines/s) and drops the oldest for live sources; a named policy wins", () => {
    const policy = (...overrides: string[]) => queuePolicyOf(loadConfig(undefined, overrides));
    assert.equal(policy('source.type=folder', 'source.path=/x'), 'block');
    assert.equal(policy('source.type=folder', 'source.path=/x', 'source.watch=true'), 'block');
    assert.equal(policy('source.type=video', 'source.path=/x.mp4'), 'block');
    assert.equal(policy('source.type=synthetic-web', 'source.linesPerSecond=0'), 'block');
    assert.equal(policy('source.type=synthetic-web', 'source.linesPerSecond=300'), 'drop-oldest');
    assert.equal(policy('source.type=capture', 'source.device=0'), 'drop-oldest');
    assert.equal(policy('source.type=folder', 'source.path=/x', 'pipeline.queuePolicy=drop-oldest'), 'drop-oldest');
    assert.equal(policy('source.type=capture', 'source.device=0', 'pipeline.queuePolicy=block'), 'block');
  });

  test('CLI: exit 2 with the field; --print-defaults; --json-schema; docs table is current', () => {
    const f = join(dir, 'typo.json');
    writeFileSync(f, JSON.stringify({ metrics: { prot: 1 } }));
    const run = (...a: string[]) => runCli(join(dir, 'cache'), a);
    const r = run('run', '--config', f);
    assert.equal(r.code, 2);
    assert.match(r.stderr, /typo\.json: metrics: unknown key\(s\) 'prot'/);
    assert.match(run('config', '--print-defaults').stdout, /queuePolicy: auto/);
    assert.equal(JSON.parse(run('config', '--json-schema').stdout).type, 'object');
    const doc = readFileSync(join(PROJECT_ROOT, 'docs', 'configuration.md'), 'utf8');
    for (const row of configReferenceRows())
      assert.ok(doc.includes(row), `docs/configuration.md is out of date (regenerate with 'patchline config --markdown'): missing ${row}`);
  });
});

describe('generated docs', () => {
  test("docs/configuration.md and docs/mqtt.md are current ('npm run docs' regenerates them)", async () => {
    const { fill, generatedSections } = await import('../scripts/gen-docs.js');
    for (const f of ['configuration.md', 'mqtt.md']) {
      const text = readFileSync(join(PROJECT_ROOT, 'docs', f), 'utf8');
      assert.equal(fill(text, generatedSections()), text, `docs/${f} is out of date: run 'npm run docs'`);
    }
  });
});
