// `npm run soak -- --minutes N [--source synthetic|folder] [--all-anomalous] [--inherit-env] [--out FILE]`:
// the service (`patchline run`, its own process) at full rate against a real mosquitto, with a
// broker outage and bank reloads injected on a schedule. Samples RSS, event-loop lag and the
// service's metrics; a subscriber checks every result. Prints a verdict: RSS high-water marks, lost,
// duplicated and out-of-order results, drops by reason.
import { spawn } from 'node:child_process';
import { copyFileSync, existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { cpus, tmpdir, totalmem } from 'node:os';
import { join, resolve } from 'node:path';
import { parseArgs } from 'node:util';
import mqtt from 'mqtt';
import { fitWebBank, TILE, WEB_WIDTH } from '../src/demo/web-bank.js';
import { SyntheticWeb } from '../src/linescan/synthetic-web.js';
import { WebTiler } from '../src/linescan/web-tiler.js';
import { DEFAULT_BACKBONE, modelDir, resolveBackbone } from '../src/model/backbone.js';
import { ensureModel } from '../src/model/fetch-model.js';
import { readBank, writeBank } from '../src/patchcore/bank-file.js';
import { loadOpenCV } from '../src/preprocess/opencv.js';
import { freePort, Mosquitto } from '../test/helpers/mosquitto.js';
import { memoryVerdict, RSS_SLOPE_BOUND, rssSlope } from './memory-verdict.js';
import { median, percentile } from './stats.js';

const { values: args } = parseArgs({
  options: {
    minutes: { type: 'string', default: '30' },
    source: { type: 'string', default: 'synthetic' },
    'all-anomalous': { type: 'boolean', default: false },
    'outage-every': { type: 'string', default: '10' },
    'outage-seconds': { type: 'string', default: '30' },
    'reload-every': { type: 'string', default: '120' },
    'folder-rate': { type: 'string', default: '12' },
    // The service runs with the allocator settings of the installed unit unless told otherwise.
    'inherit-env': { type: 'boolean', default: false },
    out: { type: 'string' },
  },
});
const minutes = Number(args.minutes);
const source = String(args.source);
if (!(minutes > 0) || !['synthetic', 'folder'].includes(source)) {
  process.stderr.write('usage: npm run soak -- --minutes N [--source synthetic|folder] [--all-anomalous] [--inherit-env] [--out FILE]\n');
  process.exit(2);
}
const outageEveryS = Number(args['outage-every']) * 60;
const outageS = Number(args['outage-seconds']);
const reloadEveryS = Number(args['reload-every']);
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const log = (s: string) => process.stderr.write(`soak: ${s}\n`);

const work = mkdtempSync(join(tmpdir(), 'patchline-soak-'));
const models = modelDir();
const backbone = resolveBackbone(DEFAULT_BACKBONE, models);
await ensureModel(backbone, log);
log(`fitting two banks on the clean web in ${work}`);
const banks = join(work, 'banks');
mkdirSync(banks);
const fit = async (name: string, coreset: number) =>
  (
    await fitWebBank({
      dir: join(work, name),
      backbone,
      backboneRef: DEFAULT_BACKBONE,
      layers: backbone.spec.defaultLayers,
      dim: 256,
      coreset,
      lines: 2240,
    })
  ).path;
const bankA = await fit('a', 0.1);
const bankB = await fit('b', 0.05);
if (args['all-anomalous']) {
  // Every tile above the threshold: maps, regions and heat maps for every frame.
  for (const b of [bankA, bankB]) {
    const stored = await readBank(b);
    writeBank(b, { ...stored.manifest, calibration: { ...stored.manifest.calibration, threshold: 1e-3 } }, stored.rows);
  }
}
const live = join(banks, 'live.bank');
copyFileSync(bankA, live);
copyFileSync(bankB, join(banks, 'other.bank'));

// Persistent: the subscriber's session and its queued results survive the injected outages.
const broker = await Mosquitto.start(true);
const metricsPort = await freePort();
const inbox = join(work, 'incoming');
const sourceYaml =
  source === 'synthetic'
    ? `source: { type: synthetic-web, width: ${WEB_WIDTH}, linesPerChunk: 64, linesPerSecond: 0, seed: 1, defectEvery: 700, lines: 0 }\npipeline: { queuePolicy: block }\n`
    : `source: { type: folder, path: ${inbox}, watch: true, pollMs: 200, settleMs: 300 }\n`;
if (source === 'folder') mkdirSync(inbox);
const config = join(work, 'soak.yaml');
writeFileSync(
  config,
  `${sourceYaml}model: { bank: ${live}, modelDir: ${models} }\nmqtt: { url: ${broker.url} }\nmetrics: { port: ${metricsPort} }\nui: { port: 0, dataDir: ${join(work, 'ui')} }\noutput: { resultsFile: ${join(work, 'results.jsonl')} }\n`,
);

// The subscriber: every result, by seq.
const seen = new Map<number, number>();
let outOfOrder = 0;
let lastFirst = -1;
const sub = await mqtt.connectAsync(broker.url, { reconnectPeriod: 50, clean: false, clientId: 'patchline-soak-subscriber' });
await sub.subscribeAsync('patchline/+/+/result', { qos: 1 });
sub.on('message', (_topic, payload) => {
  const seq = (JSON.parse(payload.toString()) as { seq: number }).seq;
  const n = seen.get(seq) ?? 0;
  seen.set(seq, n + 1);
  if (n === 0) {
    if (seq < lastFirst) outOfOrder++;
    lastFirst = Math.max(lastFirst, seq);
  }
});

// The glibc settings of deploy/jetson/patchline.env, which the systemd unit gives the service:
// the soak measures memory as it is deployed (--inherit-env: as this shell's environment has it).
const DEPLOY_ENV = resolve('deploy/jetson/patchline.env');
const deployedMalloc = Object.fromEntries(
  readFileSync(DEPLOY_ENV, 'utf8')
    .split('\n')
    .map((l) => /^(MALLOC_[A-Z_]+)=(\S+)$/.exec(l.trim()))
    .filter((m): m is RegExpExecArray => m !== null)
    .map((m) => [m[1]!, m[2]!]),
);
const childEnv = args['inherit-env'] ? process.env : { ...process.env, ...deployedMalloc };
const mallocEnv = Object.entries(childEnv).filter(([k]) => k.startsWith('MALLOC_'));

log(`starting patchline run (${source} source${args['all-anomalous'] ? ', every tile anomalous' : ''}) for ${minutes} min`);
const child = spawn(process.execPath, [resolve('bin/patchline.js'), 'run', '--config', config, '--quiet'], {
  stdio: ['ignore', 'ignore', 'pipe'],
  env: childEnv,
});
let childLog = '';
child.stderr.on('data', (d: Buffer) => {
  childLog += d.toString();
  if (childLog.length > 2_000_000) childLog = childLog.slice(-1_000_000);
});
const exited = new Promise<number | null>((r) => child.once('exit', (c) => r(c)));

// Folder mode: a writer producing tiles at a fixed rate, half of them written in two steps.
let writer: Promise<void> | undefined;
let stopping = false;
if (source === 'folder') {
  const cv = await loadOpenCV();
  const web = new SyntheticWeb({ width: WEB_WIDTH, seed: 3, defectEvery: 700 });
  const period = 1000 / Number(args['folder-rate']);
  writer = (async () => {
    for (let i = 0, line = 0; !stopping; i++) {
      const tiles = new WebTiler({ webWidth: WEB_WIDTH, tileWidth: TILE, tileHeight: TILE, overlap: 0 }).push({
        seq: 0,
        timestamp: 0,
        firstLine: 0,
        lines: TILE,
        width: WEB_WIDTH,
        data: web.render(line, TILE),
      });
      line += TILE;
      for (const t of tiles) {
        const png = cv.imencode('.png', new cv.Mat(Buffer.from(t.image.data), TILE, TILE, cv.CV_8UC3).cvtColor(cv.COLOR_RGB2BGR));
        const name = join(inbox, `${String(i).padStart(8, '0')}-${t.col}.png`);
        if (i % 2) {
          writeFileSync(name, png.subarray(0, png.length >> 1));
          await sleep(period / 2);
          writeFileSync(name, png);
        } else {
          writeFileSync(`${name}.part`, png);
          renameSync(`${name}.part`, name);
        }
        await sleep(period);
      }
      // Keep the drop box small: processed files older than a minute go.
      if (i % 50 === 0) for (const f of readdirSync(inbox).sort().slice(0, -200)) rmSync(join(inbox, f), { force: true });
    }
  })();
}

interface Sample {
  t: number;
  rssMb: number;
  /** V8 heap in use (prom-client's default metric): tells a JS leak from native growth. */
  heapMb: number;
  lagP99: number;
  lagMax: number;
  framesOut: number;
}
const samples: Sample[] = [];
const scrape = async () => {
  try {
    return await (await fetch(`http://127.0.0.1:${metricsPort}/metrics`, { signal: AbortSignal.timeout(5000) })).text();
  } catch {
    return '';
  }
};
/** A metric's value, summed over its label sets unless `labels` picks one. */
const metric = (text: string, name: string, labels = '') =>
  text
    .split('\n')
    .filter((l) => (labels ? l.startsWith(`${name}${labels} `) : l.startsWith(`${name} `) || l.startsWith(`${name}{`)))
    .reduce((sum, l) => sum + Number(l.split(' ').pop()), 0);
const rssMb = () => {
  try {
    return Number(/VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${child.pid}/status`, 'utf8'))?.[1] ?? NaN) / 1024;
  } catch {
    return NaN;
  }
};

const t0 = Date.now();
const end = t0 + minutes * 60_000;
const events: string[] = [];
let nextOutage = t0 + Math.min(60, outageEveryS) * 1000;
let nextReload = t0 + reloadEveryS * 1000;
let reloads = 0;
let secondWorkerAt = 0;
let scrapeFailures = 0;
while (Date.now() < end && child.exitCode === null) {
  await sleep(5000);
  const text = await scrape();
  if (!text) scrapeFailures++;
  samples.push({
    t: (Date.now() - t0) / 60_000,
    rssMb: rssMb(),
    lagP99: metric(text, 'nodejs_eventloop_lag_p99_seconds'),
    lagMax: metric(text, 'nodejs_eventloop_lag_max_seconds'),
    framesOut: metric(text, 'patchline_frames_out_total'),
    heapMb: metric(text, 'nodejs_heap_size_used_bytes') / 2 ** 20,
  });
  const now = Date.now();
  if (now >= nextOutage && now + outageS * 1000 < end) {
    events.push(`${((now - t0) / 60_000).toFixed(1)} min: broker stopped for ${outageS} s`);
    log(events.at(-1)!);
    await broker.stop();
    await sleep(outageS * 1000);
    await broker.start();
    nextOutage = Date.now() + outageEveryS * 1000;
  }
  if (now >= nextReload) {
    reloads++;
    if (reloads % 2) {
      copyFileSync(reloads % 4 === 1 ? bankB : bankA, `${live}.tmp`);
      renameSync(`${live}.tmp`, live);
      events.push(`${((now - t0) / 60_000).toFixed(1)} min: bank file replaced`);
    } else {
      await sub.publishAsync('patchline/line1/cam1/command', JSON.stringify({ command: 'reload-bank', bank: 'other.bank' }), { qos: 1 });
      events.push(`${((now - t0) / 60_000).toFixed(1)} min: reload-bank command`);
    }
    nextReload = now + reloadEveryS * 1000;
    // The first reload starts the second inference worker (the two take turns): memory until
    // a minute after it is warm-up, not growth.
    if (reloads === 1) secondWorkerAt = (now - t0) / 60_000 + 1;
  }
}
const final = await scrape();
stopping = true;
await writer;
child.kill('SIGTERM');
const code = await exited;
await sleep(2000);
await sub.endAsync();
await broker.stop();

// Verdict.
const dropped = (reason: string) => metric(final, 'patchline_frames_dropped_total', `{reason="${reason}"}`);
// A loop, not Math.max(...keys): a spread of 100k+ results overflows the call stack.
let maxSeq = -1;
for (const s of seen.keys()) if (s > maxSeq) maxSeq = s;
let missing = 0;
const gaps: string[] = [];
for (let s = 0; s <= maxSeq; s++) {
  if (seen.has(s)) continue;
  let e = s;
  while (e + 1 <= maxSeq && !seen.has(e + 1)) e++;
  missing += e - s + 1;
  gaps.push(s === e ? String(s) : `${s}-${e}`);
  s = e;
}
const duplicates = [...seen.values()].reduce((a, n) => a + n - 1, 0);
const queueDrops = dropped('queue_full');
// What patchline lost: results it scored (results file, every one, in order) that the broker
// never acknowledged. Missing at the subscriber is reported too: it also depends on the broker.
const resultsFile = readFileSync(join(work, 'results.jsonl'), 'utf8')
  .trim()
  .split('\n')
  .filter(Boolean)
  .map((l) => (JSON.parse(l) as { seq: number }).seq);
const fileGaps = resultsFile.filter((s, i) => i > 0 && s !== resultsFile[i - 1]! + 1).length;
const acked = Number(/results acknowledged by the broker: (\d+)/.exec(childLog)?.[1] ?? NaN);
const lost = Math.max(0, resultsFile.length - acked);
const warmUpMin = Math.max(Math.min(2, minutes / 3), secondWorkerAt);
const secondHalfFrom = Math.max(warmUpMin, minutes / 2);
const slope = rssSlope(samples, secondHalfFrom);
const slopeAfterWarmUp = rssSlope(samples, warmUpMin);
const memory = memoryVerdict(samples, warmUpMin, minutes);
const lags = samples.map((s) => s.lagP99).filter((x) => x > 0);
const wallMin = (Date.now() - t0) / 60_000;
const reasons: string[] = [];
if (code !== 0) reasons.push(`patchline run exited with ${code}`);
if (!(lost === 0)) reasons.push(`${Number.isNaN(lost) ? 'unknown number of' : lost} result(s) lost`);
if (fileGaps > queueDrops) reasons.push(`${fileGaps} gap(s) in the results file beyond the ${queueDrops} queue drop(s)`);
if (outOfOrder > 0) reasons.push(`${outOfOrder} result(s) out of order`);
if (!memory.pass)
  reasons.push(`RSS peak of the last third ${memory.rise.toFixed(1)} MB above the middle third's (bound ${memory.bound.toFixed(1)} MB)`);
if (metric(final, 'patchline_mqtt_dropped_total') > 0) reasons.push('results dropped by the offline queue');
const rows: [string, string][] = [
  ['command', `npm run soak -- ${process.argv.slice(2).join(' ')}`],
  ['machine', `${cpus()[0]?.model ?? '?'} x ${cpus().length} threads, ${(totalmem() / 2 ** 30).toFixed(0)} GiB, Node ${process.version}`],
  [
    'allocator environment',
    mallocEnv.length
      ? `${mallocEnv.map(([k, v]) => `${k}=${v}`).join(' ')}${args['inherit-env'] ? '' : ' (deploy/jetson/patchline.env)'}`
      : 'glibc defaults (--inherit-env)',
  ],
  ['source', `${source}${args['all-anomalous'] ? ' (every tile anomalous)' : ''}`],
  ['duration', `${wallMin.toFixed(1)} min`],
  ['results received (subscriber)', `${seen.size} distinct seq, highest ${maxSeq}`],
  ['throughput', `${(resultsFile.length / (wallMin * 60)).toFixed(1)} frames/s`],
  ['results scored (results file) / acknowledged by the broker', `${resultsFile.length} / ${acked}`],
  ['lost by patchline (scored, never acknowledged)', String(lost)],
  ['gaps in the results file (queue drops leave gaps)', String(fileGaps)],
  ['missing at the subscriber', missing > 0 ? `${missing} (seq ${gaps.slice(0, 5).join(', ')}${gaps.length > 5 ? ', …' : ''})` : '0'],
  ['duplicated (QoS 1 redelivery after an outage)', String(duplicates)],
  ['out of order (first deliveries)', String(outOfOrder)],
  ['dropped: queue_full / bad_frame', `${queueDrops} / ${dropped('bad_frame')}`],
  ['dropped by the MQTT offline queue', String(metric(final, 'patchline_mqtt_dropped_total'))],
  [
    'bank reloads ok / failed / coalesced',
    ['ok', 'failed', 'coalesced'].map((r) => metric(final, 'patchline_bank_reloads_total', `{result="${r}"}`)).join(' / '),
  ],
  [
    'RSS first / last / peak',
    `${samples[0]?.rssMb.toFixed(0)} / ${samples.at(-1)?.rssMb.toFixed(0)} / ${Math.max(...samples.map((s) => s.rssMb).filter(Number.isFinite)).toFixed(0)} MB`,
  ],
  [
    'RSS peak, middle / last third after warm-up (the verdict)',
    `${memory.middlePeak.toFixed(0)} / ${memory.lastPeak.toFixed(0)} MB: ${memory.rise >= 0 ? '+' : ''}${memory.rise.toFixed(1)} MB (bound +${memory.bound.toFixed(1)} MB: ${RSS_SLOPE_BOUND} MB/min over ${memory.third.toFixed(1)} min)`,
  ],
  ['RSS slope, second half', `${slope.toFixed(2)} MB/min from minute ${secondHalfFrom.toFixed(1)}`],
  ['RSS slope after warm-up', `${slopeAfterWarmUp.toFixed(2)} MB/min (from minute ${warmUpMin.toFixed(1)}: both inference workers loaded)`],
  [
    'event-loop lag p99 per 5 s window: median / max',
    `${(median(lags) * 1000).toFixed(0)} / ${(Math.max(0, ...lags) * 1000).toFixed(0)} ms`,
  ],
  ['event-loop lag, worst single delay', `${(Math.max(0, ...samples.map((s) => s.lagMax)) * 1000).toFixed(0)} ms`],
  ['event-loop lag p99 of windows, 90th percentile', `${(percentile(lags, 90) * 1000).toFixed(0)} ms`],
  ['/metrics scrapes that failed (5 s timeout)', String(scrapeFailures)],
  ['injected', events.length ? events.join('; ') : 'nothing (run longer)'],
  ['verdict', reasons.length === 0 ? 'PASS' : `FAIL: ${reasons.join('; ')}`],
];
const report = ['| measurement | value |', '|---|---|', ...rows.map(([k, v]) => `| ${k} | ${v} |`)].join('\n');
process.stdout.write(`\n${report}\n`);
if (args.out) {
  writeFileSync(args.out, `${report}\n`);
  // The curve behind the slope, for a second look at memory or lag.
  writeFileSync(
    `${args.out}.samples.csv`,
    ['minute,rss_mb,heap_mb,lag_p99_s,frames_out', ...samples.map((x) => [x.t, x.rssMb, x.heapMb, x.lagP99, x.framesOut].join(','))].join(
      '\n',
    ) + '\n',
  );
}
if (reasons.length > 0 && existsSync(work)) writeFileSync(join(work, 'service.log'), childLog);
process.exitCode = reasons.length === 0 ? 0 : 1;
