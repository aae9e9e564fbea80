// Debian's chromium driven by playwright-core (no browser download), for the operator page's
// tests. Root needs --no-sandbox. A test without chromium is skipped loudly.
import { existsSync, mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { TestContext } from 'node:test';
import { chromium, type Browser, type Page } from 'playwright-core';

/** Where the page tests put their screenshots (PATCHLINE_SCREENSHOTS: docs/ for the ones the docs show). */
export const SCREENSHOTS = process.env.PATCHLINE_SCREENSHOTS ?? mkdtempSync(join(tmpdir(), 'patchline-screens-'));

export const CHROMIUM = process.env.PATCHLINE_CHROMIUM ?? '/usr/bin/chromium';

export async function launchBrowser(t: TestContext): Promise<Browser | undefined> {
  if (!existsSync(CHROMIUM)) {
    const msg = `SKIPPED: ${CHROMIUM} is absent (apt-get install chromium; scripts/setup.sh --tests installs it)`;
    process.stderr.write(`\n!!! ${msg}\n`);
    t.skip(msg);
    return undefined;
  }
  return chromium.launch({ executablePath: CHROMIUM, args: ['--no-sandbox'] });
}

/** A new page whose console errors, warnings and uncaught errors are collected in `problems`. */
export async function watchedPage(browser: Browser, height: number): Promise<{ page: Page; problems: string[] }> {
  const page = await browser.newPage({ viewport: { width: 1400, height } });
  const problems: string[] = [];
  page.on('console', (m) => {
    if (m.type() === 'error' || m.type() === 'warning') problems.push(`${m.type()}: ${m.text()}`);
  });
  page.on('pageerror', (e) => problems.push(`page error: ${e.message}`));
  return { page, problems };
}
