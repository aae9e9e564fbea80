// Teach, correct and switch from the operator page, in chromium against a running service on the
// synthetic web: teach a second recipe from the line (progress, held-out scores, activate on
// confirmation), switch recipes, mark a false alarm and add it to the bank, apply a threshold
// from the reviews, roll back; the audit log on the page names the token holder for each step.
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import { defaultConfig } from '../src/config/load.js';
import type { Config } from '../src/config/schema.js';
import { readAudit } from '../src/recipes/audit-log.js';
import { importBank } from '../src/recipes/bank-operations.js';
import { BankStore } from '../src/recipes/bank-store.js';
import { InspectionService } from '../src/service/service.js';
import type { GalleryItem } from '../src/ui/protocol.js';
import { launchBrowser, SCREENSHOTS, watchedPage } from './helpers/browser.js';
import { useTestCache } from './helpers/cache.js';
import { SHARED_DIR } from './helpers/shared.js';
import { fitWebBank } from './helpers/web-bank.js';

useTestCache();
const models = join(SHARED_DIR, 'models');
const haveModel = existsSync(join(models, 'mobilenetv2-12-int8.onnx'));
if (!haveModel)
  process.stderr.write(`\n!!! SKIPPED: ${models}/mobilenetv2-12-int8.onnx is absent: operator recipe tests need the zoo MobileNetV2\n`);
const TOKEN = 'alice-token-0123456789abcdef';

describe('teach, correct and switch from the operator page (chromium)', { skip: !haveModel }, () => {
  test('teach a recipe, activate it, switch, add a false alarm, apply a threshold, roll back; all in the audit log', async (t) => {
    const browser = await launchBrowser(t);
    if (!browser) return;
    const dir = mkdtempSync(join(tmpdir(), 'patchline-page-recipes-'));
    const web = BankStore.open(join(dir, 'web'), { name: 'web', create: true });
    await importBank(web, await fitWebBank(models), { actor: 'setup', activate: true });
    writeFileSync(join(dir, 'token'), `# name token\nalice ${TOKEN}\nbob bob-token-0123456789abcdef\n`);
    const d = defaultConfig();
    const config: Config = {
      ...d,
      source: { type: 'synthetic-web', width: 448, linesPerChunk: 32, linesPerSecond: 800, seed: 1, defectEvery: 700, lines: 0 },
      model: { ...d.model, recipe: 'web', modelDir: models, threads: 1 },
      recipes: { web: { store: web.dir, keep: 10 }, 'web-2': { store: join(dir, 'web-2'), keep: 10 } },
      metrics: { enabled: false, host: '127.0.0.1', port: 0 },
      ui: { ...d.ui, port: 0, dataDir: join(dir, 'ui'), tokenFile: join(dir, 'token'), liveFps: 5 },
    };
    const service = new InspectionService(config, () => undefined);
    await service.start();
    const { page, problems } = await watchedPage(browser, 1400);
    const running = () => page.locator('#recipes [data-running]').getAttribute('data-running');
    const waitRunning = (id: string) => page.locator(`#recipes [data-running="${id}"]`).waitFor({ timeout: 60_000 });
    try {
      await page.goto(service.pageUrl!);
      await page.waitForSelector('#recipes [data-recipe="web-2"]');
      assert.equal(await running(), 'web@v1');
      assert.match((await page.locator('#recipes [data-recipe="web-2"]').textContent()) ?? '', /No versions yet/);
      assert.equal(await page.locator('[data-teach="web-2"]').isDisabled(), true, 'read-only without the token');
      await page.fill('#auth input', TOKEN);
      await page.click('#auth button');
      await page.waitForSelector('text=reviews unlocked');

      // Teach web-2 from the line: progress, then the held-out scores and the proposed threshold.
      await page.locator('[data-recipe="web-2"] input[type="number"]').fill('40');
      await page.click('[data-teach="web-2"]');
      await page.waitForSelector('#job progress', { timeout: 30_000 });
      await page.waitForSelector('#job [data-result="web-2@v1"]', { timeout: 180_000 });
      const result = (await page.locator('#job [data-job="done"]').textContent()) ?? '';
      assert.match(
        result,
        /web-2@v1 ready, \d+ rows from 40 frames\. Proposed threshold \d+\.\d+ \(holdout-quantile\)\. Held-out scores \(\d+\)/,
      );
      await page.screenshot({ path: join(SCREENSHOTS, 'operator-teach.png'), fullPage: true });
      await page.click('[data-confirm="web-2@v1"]');
      await page.waitForSelector('[data-recipe="web-2"] tr.active[data-version="web-2@v1"]');
      assert.equal(await running(), 'web@v1', 'activating another recipe’s version does not switch products');
      await page.click('[data-select="web-2"]');
      await waitRunning('web-2@v1');
      await page.click('[data-select="web"]');
      await waitRunning('web@v1');

      // A false alarm (any gallery item of the running recipe) into the bank.
      const item = await (async () => {
        for (const until = Date.now() + 120_000; Date.now() < until; await new Promise((r) => setTimeout(r, 300))) {
          const list = (await (await fetch(`${service.pageUrl}/api/gallery`)).json()) as GalleryItem[];
          const hit = list.find((i) => i.bank === 'web@v1');
          if (hit) return hit;
        }
        throw new Error('no gallery item of web@v1');
      })();
      await page.locator(`#gallery .item[data-id="${item.id}"] button.false-alarm`).click();
      await page.waitForSelector('[data-add="web"]');
      await page.click('[data-add="web"]');
      await page.waitForSelector('#job [data-result="web@v2"]', { timeout: 120_000 });
      assert.match((await page.locator('#job [data-job="done"]').textContent()) ?? '', /\d+ rows from 1 false alarms/);
      await page.click('[data-confirm="web@v2"]');
      await waitRunning('web@v2');

      // A threshold from the reviews, as a new version, running at once.
      await page.waitForSelector('[data-apply-slider]');
      await page.click('[data-apply-slider]');
      await waitRunning('web@v3');
      // Roll back.
      await page.click('[data-rollback="web"]');
      await waitRunning('web@v2');
      await page.waitForSelector('#audit tr[data-action="rollback"]');
      await page.screenshot({ path: join(SCREENSHOTS, 'operator-recipes.png'), fullPage: true });

      const actions = [...readAudit(web.auditFile), ...readAudit(join(dir, 'web-2', 'audit.jsonl'))]
        .filter((e) => e.actor === 'alice')
        .sort((a, b) => a.at.localeCompare(b.at))
        .map((e) => `${e.action} ${e.after ?? ''}`);
      assert.deepEqual(actions, [
        'teach web-2@v1',
        'activate web-2@v1',
        'select-recipe web-2@v1',
        'select-recipe web@v1',
        'add web@v2',
        'activate web@v2',
        'threshold web@v3',
        'activate web@v3',
        'rollback web@v2',
      ]);
      assert.equal(await page.locator('#audit tr[data-action]').count(), actions.length + 2, 'setup import and activation listed too');
      assert.deepEqual(problems, [], problems.join('\n'));
    } finally {
      await page.close();
      await service.stop();
      await browser.close();
    }
  });
});
