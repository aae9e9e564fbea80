// Deployment files: the systemd unit verifies, the scripts are shellcheck-clean, and the
// service speaks systemd's notify protocol (readiness, watchdog, stopping).
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { chmodSync, existsSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import { systemdNotifier } from '../src/service/systemd-notify.js';
import { PROJECT_ROOT } from './helpers/shared.js';

const unitText = () => readFileSync(join(PROJECT_ROOT, 'deploy', 'jetson', 'patchline.service'), 'utf8');

function tool(t: { skip(msg: string): void }, path: string): boolean {
  if (existsSync(path)) return true;
  const msg = `SKIPPED: ${path} is absent (apt-get install ${path.endsWith('shellcheck') ? 'shellcheck' : 'systemd'}; scripts/setup.sh installs it)`;
  process.stderr.write(`\n!!! ${msg}\n`);
  t.skip(msg);
  return false;
}

describe('deployment', () => {
  test('systemd-analyze verify passes on the unit', (t) => {
    if (!tool(t, '/usr/bin/systemd-analyze')) return;
    const r = spawnSync('/usr/bin/systemd-analyze', ['verify', join(PROJECT_ROOT, 'deploy', 'jetson', 'patchline.service')], {
      encoding: 'utf8',
    });
    assert.equal(r.status, 0, r.stderr);
    const unit = readFileSync(join(PROJECT_ROOT, 'deploy', 'jetson', 'patchline.service'), 'utf8');
    for (const key of [
      'Restart=on-failure',
      'WatchdogSec=',
      'NoNewPrivileges=yes',
      'ProtectSystem=strict',
      'ReadWritePaths=',
      'PrivateTmp=yes',
      'SupplementaryGroups=video',
      'Type=notify',
    ])
      assert.ok(unit.includes(key), key);
  });

  test('install, uninstall, setup and CI scripts are shellcheck-clean', (t) => {
    if (!tool(t, '/usr/bin/shellcheck')) return;
    const files = [
      'deploy/jetson/install.sh',
      'deploy/jetson/uninstall.sh',
      'deploy/jetson/build-onnxruntime.sh',
      'deploy/jetson/use-vendored-onnxruntime.sh',
      'scripts/setup.sh',
      '.ci/run',
    ].map((f) => join(PROJECT_ROOT, f));
    const r = spawnSync('/usr/bin/shellcheck', files, { encoding: 'utf8' });
    assert.equal(r.status, 0, r.stdout);
  });

  test('build-onnxruntime.sh patches the binding to pass TensorRT options, once, and refuses a source it does not recognise', (t) => {
    if (!tool(t, '/usr/bin/python3')) return;
    const script = readFileSync(join(PROJECT_ROOT, 'deploy', 'jetson', 'build-onnxruntime.sh'), 'utf8');
    const patcher = /<<'PY'\n([\s\S]*?)\nPY\n/.exec(script)?.[1];
    assert.ok(patcher, 'the patch program is in the script');
    const dir = mkdtempSync(join(tmpdir(), 'patchline-ortpatch-'));
    const program = join(dir, 'patch.py');
    writeFileSync(program, patcher);
    // The TensorRT branch of onnxruntime's js/node/src/session_options_helper.cc (v1.20).
    const source = [
      '#include <unordered_map>',
      '    } else if (name == "tensorrt") {',
      '      OrtTensorRTProviderOptionsV2* options;',
      '      Ort::ThrowOnError(Ort::GetApi().CreateTensorRTProviderOptions(&options));',
      '      options->device_id = deviceId;',
      '      sessionOptions.AppendExecutionProvider_TensorRT_V2(*options);',
      '',
    ].join('\n');
    const file = join(dir, 'session_options_helper.cc');
    writeFileSync(file, source);
    const run = () => spawnSync('/usr/bin/python3', [program, file], { encoding: 'utf8' });
    assert.equal(run().status, 0);
    const patched = readFileSync(file, 'utf8');
    assert.match(patched, /options->device_id = deviceId;\n\s+\/\/ patchline: TensorRT provider options/);
    assert.match(patched, /UpdateTensorRTProviderOptions\(options, keyPointers\.data\(\), valuePointers\.data\(\),/);
    assert.ok(
      patched.indexOf('UpdateTensorRTProviderOptions') < patched.indexOf('AppendExecutionProvider_TensorRT_V2'),
      'options before the provider is appended',
    );
    assert.equal(run().status, 0, 'running it again changes nothing');
    assert.equal(readFileSync(file, 'utf8'), patched);
    writeFileSync(file, '// some other onnxruntime version\n');
    const other = run();
    assert.notEqual(other.status, 0);
    assert.match(other.stderr, /does not look as expected/);
  });

  test('notify protocol: READY, WATCHDOG while healthy, STOPPING; nothing outside systemd', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'patchline-notify-'));
    const log = join(dir, 'calls');
    const fake = join(dir, 'systemd-notify');
    writeFileSync(fake, `#!/bin/sh\necho "$*" >> ${log}\n`);
    chmodSync(fake, 0o755);
    let healthy = true;
    const n = systemdNotifier({ NOTIFY_SOCKET: '/run/fake', WATCHDOG_USEC: '100000' }, () => {}, fake);
    // While the model loads: the start timeout is extended at once and every half extension.
    const stopExtending = n.starting(100_000);
    await new Promise((r) => setTimeout(r, 180));
    stopExtending();
    const extensions = readFileSync(log, 'utf8')
      .split('\n')
      .filter((l) => l.includes('EXTEND_TIMEOUT_USEC=100000')).length;
    assert.ok(extensions >= 3, `start timeout extended ${extensions} times in 180 ms at a 50 ms period`);
    n.ready();
    const stop = n.watchdog(() => healthy);
    await new Promise((r) => setTimeout(r, 220));
    healthy = false;
    // A ping is a child process: one started just before may write its line a little later.
    await new Promise((r) => setTimeout(r, 150));
    const before = readFileSync(log, 'utf8')
      .split('\n')
      .filter((l) => l.includes('WATCHDOG=1')).length;
    await new Promise((r) => setTimeout(r, 200));
    stop();
    n.stopping();
    await new Promise((r) => setTimeout(r, 200));
    const calls = readFileSync(log, 'utf8').trim().split('\n');
    assert.match(calls[0]!, /--pid=\d+ EXTEND_TIMEOUT_USEC=100000 STATUS=loading the model/);
    const ready = calls.findIndex((l) => l.includes('--ready'));
    assert.match(calls[ready]!, /--pid=\d+ --ready STATUS=running/);
    assert.ok(
      calls.slice(ready).every((l) => !l.includes('EXTEND_TIMEOUT_USEC')),
      'no extension after READY',
    );
    assert.ok(before >= 2, `watchdog pinged ${before} times in 220 ms at a 50 ms period`);
    assert.equal(calls.filter((l) => l.includes('WATCHDOG=1')).length, before, 'no pings while unhealthy');
    assert.ok(unitText().includes('TimeoutStartSec='), 'the unit bounds a start that sends nothing');
    assert.match(calls.at(-1)!, /STOPPING=1/);
    const off = systemdNotifier({}, () => {}, fake);
    off.ready();
    assert.equal(readFileSync(log, 'utf8').trim().split('\n').length, calls.length);
  });
});

describe('monitoring files', () => {
  test('the dashboard is valid JSON with panels; alert rules, scrape and federation configs are valid YAML', async () => {
    const YAML = (await import('yaml')).default;
    const dash = JSON.parse(readFileSync(join(PROJECT_ROOT, 'deploy', 'monitoring', 'grafana-dashboard.json'), 'utf8'));
    assert.ok(dash.panels.length >= 10);
    const rules = YAML.parse(readFileSync(join(PROJECT_ROOT, 'deploy', 'monitoring', 'patchline-alerts.yml'), 'utf8'));
    assert.deepEqual(
      rules.groups[0].rules.map((r: { alert: string }) => r.alert),
      [
        'PatchlineDown',
        'PatchlinePipelineStalled',
        'PatchlineSourceDown',
        'PatchlineDroppingFrames',
        'PatchlineBrokerDisconnected',
        'PatchlineLatencyHigh',
      ],
    );
    const site = YAML.parse(readFileSync(join(PROJECT_ROOT, 'deploy', 'monitoring', 'prometheus.yml'), 'utf8'));
    assert.equal(site.scrape_configs[0].job_name, 'patchline');
    // The central Prometheus federates exactly the job the site config scrapes, labels kept.
    const central = YAML.parse(readFileSync(join(PROJECT_ROOT, 'deploy', 'monitoring', 'prometheus-central.yml'), 'utf8'));
    const federate = central.scrape_configs[0];
    assert.equal(federate.metrics_path, '/federate');
    assert.equal(federate.honor_labels, true);
    assert.deepEqual(federate.params['match[]'], [`{job="${site.scrape_configs[0].job_name}"}`]);
  });
});
