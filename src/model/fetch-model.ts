// Getting a catalogue backbone into the models directory: download from its public URL with
// sha256 verification, or, offline, say exactly which file to put where.
import { existsSync, mkdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { dirname } from 'node:path';
import { sha256, type ResolvedBackbone } from './backbone.js';

export type FetchResult = { status: 'present' | 'downloaded'; path: string };

export class ModelFetchError extends Error {}

export async function ensureModel(b: ResolvedBackbone, log: (s: string) => void = () => {}): Promise<FetchResult> {
  const path = b.onnxPath;
  const expected = b.spec.sha256;
  if (existsSync(path)) {
    const hash = sha256(readFileSync(path));
    if (!expected || hash === expected) return { status: 'present', path };
    throw new ModelFetchError(
      `${path}: sha256 ${hash} differs from the expected ${expected}; delete the file and run setup again, or place the right file there`,
    );
  }
  const manual = `place the file at ${path} (sha256 ${expected ?? 'not pinned'})${b.spec.url ? `; it is published at ${b.spec.url}` : ''}`;
  if (!b.spec.url) throw new ModelFetchError(`backbone '${b.spec.name}': ${path} is missing and has no download URL: ${manual}`);
  log(`downloading ${b.spec.name} from ${b.spec.url}\n`);
  let bytes: Uint8Array;
  try {
    const res = await fetch(b.spec.url, { signal: AbortSignal.timeout(120_000) });
    if (!res.ok) throw new Error(`HTTP ${res.status} ${res.statusText}`);
    bytes = new Uint8Array(await res.arrayBuffer());
  } catch (e) {
    throw new ModelFetchError(
      `backbone '${b.spec.name}': download failed (${(e as Error).message}). On an offline machine, ${manual}. Or point PATCHLINE_MODEL_DIR at a folder that has it.`,
    );
  }
  const hash = sha256(bytes);
  if (expected && hash !== expected)
    throw new ModelFetchError(
      `backbone '${b.spec.name}': downloaded file has sha256 ${hash}, expected ${expected}; nothing was written. ${manual}`,
    );
  mkdirSync(dirname(path), { recursive: true });
  const tmp = `${path}.download`;
  writeFileSync(tmp, bytes);
  renameSync(tmp, path);
  return { status: 'downloaded', path };
}
