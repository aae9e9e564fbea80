// The operator page in a real browser (Debian's chromium through playwright-core) against a
// running service on the synthetic web: it loads without console errors, live tiles update, an
// injected defect appears in the gallery and on the web strip at its web position, a review
// through the page writes the labelled file, a write without the token is refused, the gallery
// survives a restart, and a stalled page does not slow the pipeline.
import assert from 'node:assert/strict';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import WebSocket from 'ws';
import { defaultConfig } from '../src/config/load.js';
import type { Config } from '../src/config/schema.js';
import type { GalleryItem } from '../src/ui/protocol.js';
import { InspectionService } from '../src/service/service.js';
import { launchBrowser, SCREENSHOTS, watchedPage } from './helpers/browser.js';
import { useTestCache } from './helpers/cache.js';
import { waitFor } from './helpers/wait.js';
import { SHARED_DIR } from './helpers/shared.js';
import { fitWebBank } from './helpers/web-bank.js';

useTestCache();
const models = join(SHARED_DIR, 'models');
const haveModel = existsSync(join(models, 'mobilenetv2-12-int8.onnx'));
if (!haveModel)
  process.stderr.write(`\n!!! SKIPPED: ${models}/mobilenetv2-12-int8.onnx is absent: operator page tests need the zoo MobileNetV2\n`);

const TOKEN = 'operator-token-0123456789';
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

function pageConfig(bank: string, dataDir: string, tokenFile: string, linesPerSecond: number): Config {
  const d = defaultConfig();
  return {
    ...d,
    source: { type: 'synthetic-web', width: 448, linesPerChunk: 32, linesPerSecond, seed: 1, defectEvery: 700, lines: 0 },
    model: { ...d.model, bank, modelDir: models, threads: 1 },
    linescan: { ...d.linescan, mmPerLine: 0.1, mmPerPixel: 0.1 },
    metrics: { enabled: false, host: '127.0.0.1', port: 0 },
    ui: { ...d.ui, port: 0, dataDir, tokenFile, liveFps: 10 },
  };
}

describe('operator page in chromium', { skip: !haveModel }, () => {
  let bank: string;
  let dataDir: string;
  let tokenFile: string;
  before(async () => {
    bank = await fitWebBank(models);
    const dir = mkdtempSync(join(tmpdir(), 'patchline-ui-'));
    dataDir = join(dir, 'data');
    tokenFile = join(dir, 'token');
    writeFileSync(tokenFile, `${TOKEN}\n`);
  });
  after(() => undefined);

  test('live tiles, a defect in the gallery and on the strip at its web position, reviews with and without the token, gallery after a restart', async (t) => {
    const browser = await launchBrowser(t);
    if (!browser) return;
    const logs: string[] = [];
    let service = new InspectionService(pageConfig(bank, dataDir, tokenFile, 600), (s) => logs.push(s));
    try {
      await service.start();
      const { page, problems } = await watchedPage(browser, 1100);
      await page.goto(service.pageUrl!);
      // Live tiles update.
      await waitFor(async () => Number((await page.locator('body').getAttribute('data-tiles')) ?? 0) >= 3, 'live tiles');
      const firstSeq = await page.locator('#live .tile').first().getAttribute('data-seq');
      await waitFor(async () => (await page.locator('#live .tile').first().getAttribute('data-seq')) !== firstSeq, 'a newer tile', 30_000);
      // An injected defect reaches the gallery, at the web position of a defect the web put there.
      await page.waitForSelector('#gallery .item', { timeout: 90_000 });
      const items = await waitFor(async () => {
        const list = (await (await fetch(`${service.pageUrl}/api/gallery`)).json()) as GalleryItem[];
        return list.length > 0 ? list : undefined;
      }, 'a gallery item');
      const item = items[0]!;
      const r = item.region!;
      const truth = service.web!.defectsIn(r.box.y - 400, r.box.y + r.box.height + 400);
      const near = truth.filter(
        (d) => Math.abs(d.line - (r.box.y + r.box.height / 2)) <= 224 && Math.abs(d.x - (r.box.x + r.box.width / 2)) <= 224,
      );
      assert.ok(
        near.length > 0,
        `gallery region at line ${r.box.y}, x ${r.box.x}; injected: ${JSON.stringify(truth.map((d) => [d.line, d.x]))}`,
      );
      // ... and is boxed on the web strip at the same web position.
      const stripRegions = await waitFor(
        async () => {
          const raw = await page.locator('#strip').getAttribute('data-regions');
          const list = raw ? (JSON.parse(raw) as number[][]) : [];
          return list.some(([y, x]) => y === r.box.y && x === r.box.x) ? list : undefined;
        },
        'the defect on the strip',
        30_000,
      );
      assert.ok(stripRegions.length > 0);
      assert.match((await page.locator('#strip-info').textContent()) ?? '', /m along/);
      await page.waitForSelector('#timeline .u-over');
      await page.screenshot({ path: join(SCREENSHOTS, 'operator-live.png'), fullPage: true });

      // Without the token: buttons off, and a write is refused.
      assert.deepEqual(problems, [], 'no console error or warning while the page runs');
      assert.equal(await page.locator('#gallery .item button.defect').first().isDisabled(), true);
      const refused = await page.evaluate(async (id) => {
        const res = await fetch(`/api/gallery/${id}/review`, {
          method: 'POST',
          headers: { 'content-type': 'application/json' },
          body: JSON.stringify({ label: 'defect' }),
        });
        return res.status;
      }, item.id);
      assert.equal(refused, 401);
      const wrong = await page.evaluate(async (id) => {
        const res = await fetch(`/api/gallery/${id}/review`, {
          method: 'POST',
          headers: { 'content-type': 'application/json', 'x-patchline-token': 'guess' },
          body: JSON.stringify({ label: 'defect' }),
        });
        return res.status;
      }, item.id);
      assert.equal(wrong, 401);
      assert.ok(!existsSync(join(dataDir, 'reviewed')), 'nothing written without the token');
      // A wrong token is refused by the page too.
      await page.fill('#auth input', 'not-the-token');
      await page.click('#auth button');
      await page.waitForSelector('text=token refused');

      // With the token: label the item as a defect of class 'spot', and another as a false alarm.
      await page.fill('#auth input', TOKEN);
      await page.click('#auth button');
      await page.waitForSelector('text=reviews unlocked');
      const card = page.locator(`#gallery .item[data-id="${item.id}"]`);
      await card.locator('input').fill('spot');
      await card.locator('button.defect').click();
      await page.waitForSelector(`#gallery .item[data-id="${item.id}"] .badge.defect`);
      assert.ok(existsSync(join(dataDir, 'reviewed', 'test', 'spot', `${item.id}.png`)), 'labelled file written');
      const other = await waitFor(async () => {
        const list = (await (await fetch(`${service.pageUrl}/api/gallery`)).json()) as GalleryItem[];
        return list.find((i) => i.id !== item.id);
      }, 'a second gallery item');
      await page.locator(`#gallery .item[data-id="${other.id}"] button.false-alarm`).click();
      await page.waitForSelector(`#gallery .item[data-id="${other.id}"] .badge.false-alarm`);
      assert.ok(existsSync(join(dataDir, 'reviewed', 'test', 'good', `${other.id}.png`)));
      await page.waitForSelector('#whatif output');
      assert.match((await page.locator('#whatif output').textContent()) ?? '', /precision \d+ %, recall \d+ %/);
      await page.screenshot({ path: join(SCREENSHOTS, 'operator-review.png'), fullPage: true });
      // The browser logs the refused writes above (401); nothing else.
      const unexpected = problems.filter((p) => !/status of 401 \(Unauthorized\)/.test(p));
      assert.deepEqual(unexpected, [], unexpected.join('\n'));

      // A restart keeps the gallery and the reviews.
      await service.stop();
      service = new InspectionService(pageConfig(bank, dataDir, tokenFile, 600), (s) => logs.push(s));
      await service.start();
      const again = (await (await fetch(`${service.pageUrl}/api/gallery`)).json()) as GalleryItem[];
      const kept = again.find((i) => i.id === item.id);
      assert.equal(kept?.review?.defectClass, 'spot');
      await page.goto(service.pageUrl!);
      await page.waitForSelector(`#gallery .item[data-id="${item.id}"] .badge.defect`);
      await page.close();
    } finally {
      await service.stop();
      await browser.close();
    }
  });

  test('three cameras over one web: the strip shows the whole width, defects of every camera at their web positions', async (t) => {
    const browser = await launchBrowser(t);
    if (!browser) return;
    const d = defaultConfig();
    // 448-px cameras at 0, 34.8 and 69.6 mm (0.1 mm/px): a web of 1144 px.
    const config: Config = {
      ...pageConfig(bank, mkdtempSync(join(tmpdir(), 'patchline-cameras-ui-')), tokenFile, 1200),
      source: { type: 'synthetic-web', width: 1144, linesPerChunk: 64, linesPerSecond: 1200, seed: 4, defectEvery: 150, lines: 0 },
      cameras: [
        { id: 'left', offsetMm: 0, widthPx: 448 },
        { id: 'middle', offsetMm: 34.8, widthPx: 448 },
        { id: 'right', offsetMm: 69.6, widthPx: 448 },
      ],
      pipeline: { ...d.pipeline, queuePolicy: 'block' },
    };
    const service = new InspectionService(config, () => undefined);
    try {
      await service.start();
      const { page, problems } = await watchedPage(browser, 1100);
      await page.goto(service.pageUrl!);
      // Regions across the web: the left camera's part (< 34.8 mm) and the right camera's (> 79.6 mm).
      const regions = await waitFor(
        async () => {
          const raw = await page.locator('#strip').getAttribute('data-regions');
          const list = raw ? (JSON.parse(raw) as number[][]) : [];
          return list.some(([, x]) => x! < 348) && list.some(([, x]) => x! > 796) ? list : undefined;
        },
        'defects of the left and the right camera on the strip',
        120_000,
      );
      const truth = service.web!.defectsIn(0, Math.max(...regions.map(([y]) => y!)) + 400);
      for (const [y, x, w, h] of regions) {
        const near = truth.filter((q) => q.x >= x! - 12 && q.x <= x! + w! + 12 && q.line >= y! - 12 && q.line <= y! + h! + 12);
        assert.equal(
          near.length,
          1,
          `strip region at line ${y}, x ${x} (${w}x${h}): injected ${JSON.stringify(truth.map((q) => [q.line, q.x]))}`,
        );
      }
      // The strip is the whole web, scaled: 1144 px / stripScale, plus the ruler.
      const width = await page.locator('#strip').evaluate((c) => (c as unknown as { width: number }).width);
      assert.equal(width, 44 + Math.round(1144 / d.ui.stripScale));
      await page.screenshot({ path: join(SCREENSHOTS, 'operator-cameras.png'), fullPage: true });
      assert.deepEqual(problems, [], 'no console error or warning');
    } finally {
      await service.stop();
      await browser.close();
    }
  });

  test('a stalled page gets updates dropped and counted; the pipeline keeps its rate', async () => {
    const ownData = join(dataDir, '..', 'stalled');
    mkdirSync(ownData, { recursive: true });
    // 1280 lines/s: 20 tiles/s, within what this box scores. A full-size strip every second
    // (~0.5 MB) fills the kernel's buffers of the stalled socket within seconds.
    const base = pageConfig(bank, ownData, tokenFile, 1280);
    const service = new InspectionService(
      { ...base, model: { ...base.model, threads: 2 }, ui: { ...base.ui, liveFps: 30, pageBufferKb: 64, stripScale: 1, stripLines: 4096 } },
      () => {},
    );
    await service.start();
    try {
      const url = service.pageUrl!.replace('http', 'ws');
      const stalled = new WebSocket(`${url}/live`);
      await new Promise((r) => stalled.once('open', r));
      // Never read: the socket's receive side is paused, so the server's send buffer fills.
      (stalled as unknown as { _socket: { pause(): void } })._socket.pause();
      const f0 = service.stats.framesOut;
      const t0 = Date.now();
      // The kernel takes a few MB before the server's own buffer grows: 20 s fill it.
      await sleep(20_000);
      const rate = ((service.stats.framesOut - f0) * 1000) / (Date.now() - t0);
      const text = await service.metrics.text();
      const dropped = text
        .split('\n')
        .filter((l) => l.startsWith('patchline_ui_dropped_total{'))
        .reduce((a, l) => a + Number(l.split(' ').pop()), 0);
      assert.ok(rate >= 19, `pipeline rate with a stalled page: ${rate.toFixed(1)} tiles/s (source: 20)`);
      assert.ok(dropped > 0, 'updates to the stalled page were dropped and counted');
      assert.match(text, /patchline_frames_dropped_total\{reason="queue_full"\} 0|^(?![\s\S]*queue_full)/m);
      stalled.terminate();
    } finally {
      await service.stop();
    }
    assert.ok(readdirSync(ownData).includes('gallery'));
  });
});

describe('live hub', () => {
  test('a page whose socket holds more than the limit gets nothing more until it drains; each drop is counted', async () => {
    const { LiveHub } = await import('../src/ui/live-hub.js');
    const sent: number[] = [];
    const fake = {
      readyState: 1,
      OPEN: 1,
      bufferedAmount: 0,
      send: (d: Uint8Array | string) => sent.push(typeof d === 'string' ? d.length : d.length),
      on: () => undefined,
      terminate: () => undefined,
    };
    const drops: string[] = [];
    const hub = new LiveHub({ liveFps: 1000, maxBufferedBytes: 1000 }, (k) => drops.push(k));
    hub.attach(fake as never, []);
    const header = {
      type: 'tile' as const,
      seq: 0,
      at: 0,
      score: 1,
      normalizedScore: 0.5,
      isAnomaly: true,
      threshold: 1,
      position: {},
      width: 1,
      height: 1,
    };
    hub.sendTile(header, new Uint8Array(100), true);
    fake.bufferedAmount = 5000;
    for (let i = 0; i < 10; i++) hub.sendTile(header, new Uint8Array(100), true);
    hub.broadcast({ type: 'timeline', points: [], threshold: 1 });
    assert.equal(sent.length, 1, 'nothing sent while over the limit');
    assert.equal(drops.filter((k) => k === 'tile').length, 10);
    assert.equal(drops.filter((k) => k === 'timeline').length, 1);
    fake.bufferedAmount = 0;
    hub.sendTile(header, new Uint8Array(100), true);
    assert.equal(sent.length, 2, 'sent again once drained');
  });
});
