import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

/** Points the prepared-model cache at a fresh temporary folder, so tests start cold. */
export function useTestCache(): string {
  const dir = mkdtempSync(join(tmpdir(), 'patchline-cache-'));
  process.env.PATCHLINE_CACHE_DIR = dir;
  return dir;
}
