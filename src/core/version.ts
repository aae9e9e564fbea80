// patchline's version, read once from package.json (beside src/ and dist/ alike), so results,
// status messages, Sparkplug births and banks name the release that produced them however the
// process was started (npm script, bin/, systemd).
import { readFileSync } from 'node:fs';

function readVersion(): string {
  const text = readFileSync(new URL('../../package.json', import.meta.url), 'utf8');
  const version = (JSON.parse(text) as { version?: unknown }).version;
  if (typeof version !== 'string') throw new Error('package.json has no version');
  return version;
}

export const PATCHLINE_VERSION = readVersion();
