// Locates ../shared (fixtures, models, datasets). Tests that need it skip loudly when absent.
import { existsSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { TestContext } from 'node:test';

export const PROJECT_ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..');
export const SHARED_DIR = resolve(process.env.PATCHLINE_SHARED_DIR ?? join(PROJECT_ROOT, '..', 'shared'));
export const REFERENCE_DIR = join(SHARED_DIR, 'fixtures', 'reference');

/** Absolute path of a file under shared/, or undefined after skipping the test with a loud note. */
export function sharedPath(t: TestContext, ...parts: string[]): string | undefined {
  const p = join(SHARED_DIR, ...parts);
  if (existsSync(p)) return p;
  const msg = `SKIPPED: ${p} is absent (set PATCHLINE_SHARED_DIR to the shared/ folder to run this test)`;
  process.stderr.write(`\n!!! ${msg}\n`);
  t.skip(msg);
  return undefined;
}
