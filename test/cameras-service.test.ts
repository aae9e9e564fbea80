// Three line-scan cameras over one synthetic web in one service (one backbone, batches mixing
// cameras) against a real mosquitto: every injected defect reported once at its web position,
// those in the strips two cameras see included; each camera's results on its own topic.
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, unlinkSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import mqtt from 'mqtt';
import { defaultConfig } from '../src/config/load.js';
import type { Config } from '../src/config/schema.js';
import type { DefectRegion } from '../src/core/frame.js';
import { SyntheticWeb } from '../src/linescan/synthetic-web.js';
import { viewOf } from '../src/pipeline/camera-frames.js';
import { loadOpenCV } from '../src/preprocess/opencv.js';
import { resultSchema } from '../src/publish/payload-schema.js';
import { readBank } from '../src/patchcore/bank-file.js';
import { bankIdOf } from '../src/service/bank-reloader.js';
import { InspectionService } from '../src/service/service.js';
import { useTestCache } from './helpers/cache.js';
import { freePort } from './helpers/mosquitto.js';
import { SHARED_DIR } from './helpers/shared.js';
import { fitWebBank, useWebBankAndBroker } from './helpers/web-bank.js';

useTestCache();
const models = join(SHARED_DIR, 'models');
const haveModel = existsSync(join(models, 'mobilenetv2-12-int8.onnx'));
if (!haveModel)
  process.stderr.write(
    `\n!!! SKIPPED: ${models}/mobilenetv2-12-int8.onnx is absent: the multi-camera service test needs the zoo MobileNetV2\n`,
  );

const PITCH = 0.1;
const LINES = 3000;
// 448-px cameras at 0, 34.8 and 69.6 mm: 100-px (10 mm) overlaps at 34.8-44.8 and 69.6-79.6 mm.
const CAMERAS = [
  { id: 'left', offsetMm: 0, widthPx: 448 },
  { id: 'middle', offsetMm: 34.8, widthPx: 448 },
  { id: 'right', offsetMm: 69.6, widthPx: 448 },
];
const OVERLAPS: [number, number][] = [
  [34.8, 44.8],
  [69.6, 79.6],
];

async function config(bank: string, broker: string): Promise<Config> {
  const d = defaultConfig();
  return {
    ...d,
    source: { type: 'synthetic-web', width: 1144, linesPerChunk: 64, linesPerSecond: 0, seed: 4, defectEvery: 150, lines: LINES },
    cameras: CAMERAS,
    linescan: { ...d.linescan, mmPerLine: 0.1, mmPerPixel: PITCH },
    model: { ...d.model, bank, modelDir: models, threads: 2 },
    pipeline: { ...d.pipeline, queuePolicy: 'block', batchSize: 3 },
    mqtt: { ...d.mqtt, url: broker },
    metrics: { enabled: true, host: '127.0.0.1', port: await freePort() },
    ui: { ...d.ui, enabled: false },
  };
}

describe('three cameras over one web, one service', { skip: !haveModel }, () => {
  const ctx = useWebBankAndBroker(models);

  test('every defect once, at its web position, also in the overlaps; results per camera topic, gap-free', async () => {
    const sub = await mqtt.connectAsync(ctx.broker.url);
    await sub.subscribeAsync('patchline/#', { qos: 1 });
    const seqs = new Map<string, number[]>();
    const invalid: string[] = [];
    sub.on('message', (topic, payload) => {
      if (!topic.endsWith('/result')) return;
      const r = JSON.parse(payload.toString());
      if (!resultSchema.safeParse(r).success) invalid.push(topic);
      assert.equal(topic, `patchline/line1/${r.camera}/result`);
      seqs.set(r.camera, [...(seqs.get(r.camera) ?? []), r.seq]);
    });
    const regions: { camera: string; region: DefectRegion }[] = [];
    const logs: string[] = [];
    const service = new InspectionService(
      await config(ctx.bank, ctx.broker.url),
      (s) => logs.push(s),
      (f) => regions.push(...f.regions.map((region) => ({ camera: f.camera!, region }))),
    );
    await service.start();
    await service.done();
    const metrics = await (await fetch(`${service.metricsUrl}/metrics`)).text();
    await service.stop();
    await new Promise((r) => setTimeout(r, 300));
    await sub.endAsync();

    // Three tile columns per camera (x 0, 192, 224), rows every 192 lines: 15 rows of 3000 lines.
    for (const c of CAMERAS) {
      assert.deepEqual(
        seqs.get(c.id),
        Array.from({ length: 45 }, (_, i) => i),
        `${c.id}: every tile, in order`,
      );
      assert.match(metrics, new RegExp(`patchline_camera_tiles_total\\{camera="${c.id}"\\} 45`));
      assert.match(metrics, new RegExp(`patchline_camera_up\\{camera="${c.id}"\\} 1`));
    }
    assert.deepEqual(invalid, [], 'payloads match the documented schema');

    const injected = service.web!.defectsIn(0, LINES).filter((d) => d.line + d.halfLength < LINES - 32);
    const inOverlap = (xMm: number) => OVERLAPS.some(([a, b]) => xMm >= a && xMm <= b);
    const hits = (d: { line: number; x: number }) =>
      regions.filter(({ region: { web } }) => {
        assert.ok(web, 'every region carries its web position');
        const slack = 0.8;
        return (
          d.x * PITCH >= web.acrossMm - slack &&
          d.x * PITCH <= web.acrossMm + web.widthMm + slack &&
          d.line * 0.1 >= web.alongMm - slack &&
          d.line * 0.1 <= web.alongMm + web.lengthMm + slack
        );
      });
    const report = injected.map((d) => `${d.kind} at line ${d.line}, ${(d.x * PITCH).toFixed(1)} mm: ${hits(d).length}`).join('\n');
    const overlapDefects = injected.filter((d) => inOverlap(d.x * PITCH));
    assert.ok(overlapDefects.length >= 2, `the seeded web puts defects in the overlaps:\n${report}`);
    for (const d of injected) assert.ok(hits(d).length <= 1, `reported more than once:\n${report}`);
    const found = injected.filter((d) => hits(d).length === 1);
    assert.ok(found.length >= injected.length - 1, `found ${found.length} of ${injected.length}:\n${report}`);
    for (const d of overlapDefects.filter((x) => hits(x).length === 1)) {
      const { camera, region } = hits(d)[0]!;
      const centre = region.web!.acrossMm + region.web!.widthMm / 2;
      assert.ok(Math.abs(centre - d.x * PITCH) <= 2, `${d.kind} at ${d.x * PITCH} mm placed at ${centre} mm`);
      assert.equal(region.web!.seenBy.length, 2, `a defect in an overlap is seen by both cameras:\n${report}`);
      assert.ok(region.web!.seenBy.includes(camera), 'the answering camera is one that saw it');
    }
    const stray = regions.filter(({ region: { web } }) => !injected.some((d) => hits(d).some((h) => h.region.web === web)));
    assert.ok(stray.length <= 1, `regions without a defect: ${JSON.stringify(stray.map((s) => s.region.web))}`);
  });

  test('a camera lost mid-run: reported down, the others go on, and the overlap it shared is answered by its neighbour', async () => {
    // The right camera is a real capture device (a video file through OpenCV) showing the same
    // web for 640 lines; the file is deleted once it runs, so after its last frame it cannot reconnect.
    const cv = await loadOpenCV();
    const dir = mkdtempSync(join(tmpdir(), 'patchline-cameras-'));
    const clip = join(dir, 'right.avi');
    const web = new SyntheticWeb({ width: 1144, seed: 4, defectEvery: 150 });
    const writer = new cv.VideoWriter(clip, cv.VideoWriter.fourcc('MJPG'), 10, new cv.Size(448, 64));
    for (let first = 0; first < 640; first += 64) {
      const whole = { seq: 0, timestamp: 0, firstLine: first, lines: 64, width: 1144, data: web.render(first, 64) };
      const rgb = new cv.Mat(Buffer.from(viewOf(whole, 696, 448).data), 64, 448, cv.CV_8UC3);
      writer.write(rgb.cvtColor(cv.COLOR_RGB2BGR));
    }
    writer.release();
    const c = await config(ctx.bank, ctx.broker.url);
    c.cameras = [
      CAMERAS[0]!,
      CAMERAS[1]!,
      { ...CAMERAS[2]!, source: { type: 'capture', device: clip, reconnect: { initialMs: 1000, maxMs: 2000 } } },
    ];
    const regions: { camera: string; region: DefectRegion }[] = [];
    const tiles = new Map<string, number>();
    const logs: string[] = [];
    const service = new InspectionService(
      c,
      (s) => logs.push(s),
      (f) => {
        tiles.set(f.camera!, (tiles.get(f.camera!) ?? 0) + 1);
        regions.push(...f.regions.map((region) => ({ camera: f.camera!, region })));
      },
    );
    await service.start();
    // Once the camera has the file open (its lines arrive), the file goes: the open camera reads on
    // to the end, and its reconnection (a second later) finds nothing.
    const linesOf = async (camera: string) =>
      (await service.metrics.cameraLines.get()).values.find((v) => v.labels.camera === camera)?.value ?? 0;
    for (const until = Date.now() + 120_000; (await linesOf('right')) === 0;) {
      assert.ok(Date.now() < until, `the capture camera delivered no line:\n${logs.join('\n')}`);
      await new Promise((r) => setTimeout(r, 10));
    }
    unlinkSync(clip);
    // Each camera's last tile waits for the next one (or the end): 44 of 45 for the synthetic cameras.
    const until = Date.now() + 240_000;
    while (!((tiles.get('left') ?? 0) >= 44 && (tiles.get('middle') ?? 0) >= 44) && Date.now() < until)
      await new Promise((r) => setTimeout(r, 100));
    const metrics = await (await fetch(`${service.metricsUrl}/metrics`)).text();
    // What went out while running: nothing may wait for the lost camera until the end.
    const whileRunning = [...regions];
    await service.stop();
    assert.equal(tiles.get('left'), 45, logs.join('\n'));
    assert.equal(tiles.get('middle'), 45);
    // 640 lines: tile rows at lines 0, 192 and 384, three columns.
    assert.equal(tiles.get('right'), 9);
    assert.match(metrics, /patchline_camera_up\{camera="right"\} 0/);
    assert.match(metrics, /patchline_camera_up\{camera="middle"\} 1/);
    assert.match(metrics, /patchline_source_up 1/);
    assert.ok(
      logs.some((l) => /camera right down: .*the other cameras go on/.test(l)),
      logs.join('\n'),
    );
    // Defects in the middle/right overlap after line 640: the middle camera alone answers for them.
    const later = web.defectsIn(640, LINES - 32).filter((d) => d.x * PITCH >= 69.6 && d.x * PITCH <= 79.6 && d.line - d.halfLength > 640);
    assert.ok(later.length >= 2, JSON.stringify(later));
    for (const d of later) {
      const hit = whileRunning.filter(
        ({ region: { web: w } }) =>
          Math.abs(w!.acrossMm + w!.widthMm / 2 - d.x * PITCH) <= 2 && Math.abs(w!.alongMm + w!.lengthMm / 2 - d.line * 0.1) <= 3,
      );
      assert.equal(hit.length, 1, `defect at line ${d.line}, ${d.x * PITCH} mm: ${JSON.stringify(hit)}`);
      assert.equal(hit[0]!.camera, 'middle');
      assert.deepEqual(hit[0]!.region.web!.seenBy, ['middle']);
    }
  });
  test("a camera with its own bank: its tiles are scored and named by that bank, the others' by model.bank", async () => {
    // A bank with another coreset share: another checksum and threshold than the shared one.
    const own = await fitWebBank(models, 0.05);
    const [shared, edge] = await Promise.all([readBank(ctx.bank), readBank(own)]);
    assert.notEqual(shared.manifest.calibration.threshold, edge.manifest.calibration.threshold);
    const c = await config(ctx.bank, ctx.broker.url);
    c.source = { ...c.source, lines: 800 } as Config['source'];
    c.cameras = [CAMERAS[0]!, CAMERAS[1]!, { ...CAMERAS[2]!, bank: own }];
    const scored: { camera: string; bankId: string; threshold: number }[] = [];
    const logs: string[] = [];
    const service = new InspectionService(
      c,
      (s) => logs.push(s),
      (f) => scored.push({ camera: f.camera!, bankId: f.bankId, threshold: f.threshold }),
    );
    await service.start();
    await service.done();
    await service.stop();
    // 800 lines: tile rows at lines 0, 192, 384 and 576, three columns per camera.
    assert.equal(scored.length, 36, logs.join('\n'));
    const expect = (camera: string) =>
      camera === 'right'
        ? { bankId: bankIdOf(own, edge.checksum), threshold: edge.manifest.calibration.threshold }
        : { bankId: bankIdOf(ctx.bank, shared.checksum), threshold: shared.manifest.calibration.threshold };
    for (const r of scored) assert.deepEqual({ bankId: r.bankId, threshold: r.threshold }, expect(r.camera), r.camera);
    assert.ok(
      logs.some((l) => /^camera right: own bank /.test(l)),
      logs.join('\n'),
    );

    // A camera bank that cannot be read stops the start naming the entry.
    c.cameras = [CAMERAS[0]!, { ...CAMERAS[1]!, bank: join(tmpdir(), 'no-such.bank') }, CAMERAS[2]!];
    const failing = new InspectionService(c, () => {});
    await assert.rejects(failing.start(), /cameras\[1\]\.bank: .*no-such\.bank/);
  });
});
