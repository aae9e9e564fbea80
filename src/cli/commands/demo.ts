// `patchline demo`: the product on embedded defaults. Teaches PatchCore a defect-free simulated
// textile web, then inspects a web with injected defects through the full service: line-scan
// tiling, the worker, MQTT (an in-process broker), Prometheus metrics, heat-map images.
import { randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import mqtt from 'mqtt';
import type { DefectRegion } from '../../core/frame.js';
import { fitWebBank, TILE, WEB_WIDTH } from '../../demo/web-bank.js';
import { SyntheticWeb, type SyntheticDefect } from '../../linescan/synthetic-web.js';
import { defaultConfig } from '../../config/load.js';
import type { Config } from '../../config/schema.js';
import { DEFAULT_BACKBONE, modelDir, resolveBackbone } from '../../model/backbone.js';
import { ensureModel } from '../../model/fetch-model.js';
import { importBank } from '../../recipes/bank-operations.js';
import { BankStore } from '../../recipes/bank-store.js';
import { InspectionService } from '../../service/service.js';
import { intOption, optionalString, parseCommand, type CommandSpec } from '../args.js';
import { MODEL_DIR_OPTION } from '../common-options.js';
import { progress } from '../progress.js';
import { runService } from './run.js';

/** Neighbouring demo cameras share this many pixels (a defect on a seam lies whole in one view). */
const CAMERA_OVERLAP_PX = 64;
/** The demo's scale: a 0.1 mm pixel, square. */
const DEMO_MM = 0.1;

export const demoCommand: CommandSpec = {
  name: 'demo',
  summary: 'self-contained demo: fit on a simulated web, inspect a web with defects, publish over MQTT',
  usage: ['patchline demo [--out DIR] [--lines N] [--line-rate N] [--cameras N] [--serve] [--ui-port PORT] [--model-dir DIR]'],
  options: {
    out: { type: 'string', value: 'DIR', default: 'patchline-demo', help: 'training tiles, bank and heat-map images go here' },
    lines: { type: 'string', value: 'N', default: '3000', help: 'web lines to inspect (0 = endless, stop with Ctrl-C)' },
    'metrics-port': { type: 'string', value: 'PORT', default: '9464', help: 'port of /metrics, /healthz, /readyz (0 = any free port)' },
    'ui-port': { type: 'string', value: 'PORT', default: '8080', help: 'port of the operator page (0 = any free port)' },
    'line-rate': {
      type: 'string',
      value: 'N',
      default: '0',
      help: 'web lines per second (0 = as fast as the box scores them; e.g. 300 to watch the page live)',
    },
    cameras: {
      type: 'string',
      value: 'N',
      default: '1',
      help: `line-scan cameras side by side over one wider web (${WEB_WIDTH} px each, ${CAMERA_OVERLAP_PX} px overlaps, 0.1 mm/px), in one process`,
    },
    serve: { type: 'boolean', help: 'keep the operator page up after the web ends, until Ctrl-C' },
    'model-dir': MODEL_DIR_OPTION,
    quiet: { type: 'boolean', help: 'no live status line' },
  },
};

/** The demo's write token for the operator page, made once and kept beside its data. */
function demoToken(out: string): string {
  const file = join(out, 'ui-token');
  if (!existsSync(file)) {
    mkdirSync(out, { recursive: true });
    writeFileSync(file, `${randomBytes(16).toString('hex')}\n`, { mode: 0o600 });
  }
  return file;
}

/** Several demo cameras over one web: each WEB_WIDTH wide, neighbours overlapping. */
function demoCameras(n: number): Config['cameras'] {
  return Array.from({ length: n }, (_, i) => ({
    id: `cam${i + 1}`,
    offsetMm: Math.round(i * (WEB_WIDTH - CAMERA_OVERLAP_PX) * DEMO_MM * 1000) / 1000,
    widthPx: WEB_WIDTH,
  }));
}

/** A region in web pixels: its own box, or for several cameras its merged web box (mm). */
function webBox(r: DefectRegion): DefectRegion['box'] {
  if (!r.web) return r.box;
  const x = Math.round(r.web.acrossMm / DEMO_MM);
  return { x, y: r.box.y, width: Math.round((r.web.acrossMm + r.web.widthMm) / DEMO_MM) - x, height: r.box.height };
}

/** A region "finds" a defect when its box, grown by 8 px, contains the defect's centre. */
function matchDefects(defects: SyntheticDefect[], regions: DefectRegion[]): { found: number; falseRegions: number; twice: number } {
  const hit = (d: SyntheticDefect, r: DefectRegion) => {
    const b = webBox(r);
    return d.x >= b.x - 8 && d.x <= b.x + b.width + 8 && d.line >= b.y - 8 && d.line <= b.y + b.height + 8;
  };
  return {
    found: defects.filter((d) => regions.some((r) => hit(d, r))).length,
    falseRegions: regions.filter((r) => !defects.some((d) => hit(d, r))).length,
    twice: defects.filter((d) => regions.filter((r) => hit(d, r)).length > 1).length,
  };
}

export async function runDemo(argv: string[]): Promise<void> {
  const cmd = demoCommand;
  const v = parseCommand(cmd, argv);
  if (!v) return;
  const out = resolve(optionalString(v, 'out') ?? 'patchline-demo');
  const lines = intOption(cmd, v, 'lines', 0);
  const cameraCount = intOption(cmd, v, 'cameras', 1);
  if (cameraCount < 1 || cameraCount > 8) throw new RangeError(`--cameras: ${cameraCount} must be between 1 and 8`);
  const cameras = cameraCount > 1 ? demoCameras(cameraCount) : [];
  const webWidth = cameraCount > 1 ? cameraCount * (WEB_WIDTH - CAMERA_OVERLAP_PX) + CAMERA_OVERLAP_PX : WEB_WIDTH;
  const models = modelDir(optionalString(v, 'model-dir'));
  const log = (s: string) => process.stderr.write(`${s}\n`);
  const backbone = resolveBackbone(DEFAULT_BACKBONE, models);
  await ensureModel(backbone, log);

  log(`demo: 1/2 teaching PatchCore a defect-free web (${out}/train)`);
  const { path: bankPath, manifest: m } = await fitWebBank({
    dir: out,
    backbone,
    backboneRef: DEFAULT_BACKBONE,
    layers: backbone.spec.defaultLayers,
    dim: 256,
    coreset: 0.1,
    lines: 3584,
    progress: { stage: (name, total, unit) => progress(`  ${name}`, total, unit) },
  });
  log(
    `  bank ${bankPath}: ${m.coreset.rows} patch features from ${m.training.bankImages} tiles, threshold ${m.calibration.threshold.toFixed(2)}`,
  );
  // Two products: the web just taught, and an empty one to teach from the page. A store that
  // already has an active version keeps it (what an operator activated survives a rerun).
  const recipes = { web: { store: join(out, 'recipes', 'web'), keep: 10 }, 'web-2': { store: join(out, 'recipes', 'web-2'), keep: 10 } };
  const store = BankStore.open(recipes.web.store, { name: 'web', create: true });
  if (store.activeVersion() === undefined) await importBank(store, bankPath, { actor: 'demo', activate: true });
  log(`  recipe web: running ${store.idOf(store.activeVersion()!)} (store ${recipes.web.store}); recipe web-2: teach it from the page`);

  const config: Config = {
    ...defaultConfig(),
    source: {
      type: 'synthetic-web',
      width: webWidth,
      linesPerChunk: 64,
      linesPerSecond: intOption(cmd, v, 'line-rate', 0),
      seed: 1,
      defectEvery: 700,
      lines,
    },
    ...(cameras.length > 0 ? { cameras, linescan: { ...defaultConfig().linescan, mmPerLine: DEMO_MM, mmPerPixel: DEMO_MM } } : {}),
    model: { ...defaultConfig().model, recipe: 'web', modelDir: models },
    recipes,
    // The simulated camera runs as fast as the pipeline takes lines: wait instead of dropping.
    pipeline: { ...defaultConfig().pipeline, queuePolicy: 'block' },
    metrics: { enabled: true, host: '127.0.0.1', port: intOption(cmd, v, 'metrics-port', 0) },
    output: { heatmapDir: join(out, 'heatmaps') },
    ui: { ...defaultConfig().ui, port: intOption(cmd, v, 'ui-port', 0), dataDir: join(out, 'ui'), tokenFile: demoToken(out) },
  };
  log(
    `demo: 2/2 inspecting ${lines || 'endless'} lines of a ${webWidth}-px web with injected defects${cameras.length > 0 ? `, seen by ${cameras.length} cameras (${cameras.map((c) => `${c.id} from ${c.offsetMm} mm`).join(', ')})` : ''}`,
  );
  const regions: DefectRegion[] = [];
  const service = new InspectionService(config, log, (f) => regions.push(...f.regions));
  let received = 0;
  let example: string | undefined;
  const watch = async () => {
    const client = await mqtt.connectAsync(service.mqttUrl!);
    await client.subscribeAsync(`${config.mqtt.prefix}/#`);
    client.on('message', (topic, payload) => {
      if (!topic.endsWith('/result')) return;
      received++;
      const p = JSON.parse(payload.toString());
      if (p.regions.length > 0 && !example) example = `${topic} ${JSON.stringify(p)}`;
    });
    return client;
  };
  let watcher: Awaited<ReturnType<typeof watch>> | undefined;
  const summary = async () => {
    // The last results may still be on their way to the subscriber.
    for (const until = Date.now() + 3000; received < service.stats.framesOut && Date.now() < until;)
      await new Promise((r) => setTimeout(r, 50));
    await watcher?.endAsync();
    const web = new SyntheticWeb({ width: webWidth, seed: 1, defectEvery: 700 });
    const injected = web
      .defectsIn(0, lines || (service.stats.framesOut > 0 ? (service.stats.last?.position.line ?? 0) + TILE : 0))
      .filter((d) => d.line + d.halfLength < (lines || Infinity));
    const { found, falseRegions, twice } = matchDefects(injected, regions);
    const seams = cameras.slice(1).map((c) => Math.round(c.offsetMm / DEMO_MM));
    const inOverlaps = injected.filter((d) => seams.some((x) => d.x >= x && d.x < x + CAMERA_OVERLAP_PX)).length;
    process.stdout.write(
      [
        '',
        `patchline demo: ${service.stats.framesOut} tiles scored (${(service.stats.framesOut / ((Date.now() - service.stats.startedAt) / 1000)).toFixed(1)} tiles/s including start-up), ${service.stats.anomalies} anomalous`,
        `  defects injected: ${injected.length}, found: ${found}, regions not matching a defect: ${falseRegions}`,
        cameras.length > 0
          ? `  ${cameras.length} cameras: ${inOverlaps} defect(s) in the strips two cameras see; defects reported more than once: ${twice}`
          : '',
        `  MQTT results received by a subscriber: ${received}`,
        `  heat maps of anomalous tiles: ${join(out, 'heatmaps')}`,
        service.pageUrl
          ? `  operator page: ${service.pageUrl} (gallery in ${join(out, 'ui')}; reviewed images in ${join(out, 'ui', 'reviewed')}, for 'patchline eval --data')${v.serve ? '' : '; add --serve to keep it up after the web ends'}`
          : '',
        example ? `  example result: ${example.slice(0, 600)}${example.length > 600 ? '…' : ''}` : '',
        '',
      ].join('\n'),
    );
  };
  const token = readFileSync(config.ui.tokenFile!, 'utf8').trim();
  const code = await runService(service, {
    quiet: Boolean(v.quiet),
    log,
    onStarted: async () => {
      watcher = await watch();
      if (service.pageUrl) log(`demo: operator page ${service.pageUrl} (to review defects there, unlock with the token ${token})`);
    },
    onDone: summary,
    keepServing: Boolean(v.serve),
  });
  if (code !== 0) throw new Error('the inspection service failed (see above)');
}
