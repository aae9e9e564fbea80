import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

/**
 * Points the prepared-model cache at a fresh temporary folder, so tests start cold, and what
 * services write at run time (operator page data) at another.
 */
export function useTestCache(): string {
  const dir = mkdtempSync(join(tmpdir(), 'patchline-cache-'));
  process.env.PATCHLINE_CACHE_DIR = dir;
  process.env.PATCHLINE_DATA_DIR = mkdtempSync(join(tmpdir(), 'patchline-data-'));
  return dir;
}
