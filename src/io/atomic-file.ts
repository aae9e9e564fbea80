// Files that are either the old version or the new one, never half of either: written to a
// temporary file beside the target, fsync'd, renamed over it, and the folder fsync'd so the
// rename itself survives a power cut.
import { closeSync, fsyncSync, openSync, renameSync, rmSync, writeSync } from 'node:fs';
import { dirname } from 'node:path';

/** fsync a folder: makes a rename or a new link in it durable. */
export function fsyncDir(dir: string): void {
  const fd = openSync(dir, 'r');
  try {
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
}

/** Writes `parts` to `tmp`, fsync'd; removes `tmp` and rethrows on failure (a full disk). */
export function writeSynced(tmp: string, parts: Uint8Array[]): void {
  try {
    const fd = openSync(tmp, 'w');
    try {
      for (const part of parts) for (let done = 0; done < part.length;) done += writeSync(fd, part, done);
      fsyncSync(fd);
    } finally {
      closeSync(fd);
    }
  } catch (e) {
    rmSync(tmp, { force: true });
    throw e;
  }
}

/** `data`: text, or the file's parts in order (written one after another, never concatenated). */
export function writeFileAtomic(path: string, data: string | Uint8Array[]): void {
  const tmp = `${path}.${process.pid}.tmp`;
  writeSynced(tmp, typeof data === 'string' ? [Buffer.from(data)] : data);
  try {
    renameSync(tmp, path);
  } catch (e) {
    rmSync(tmp, { force: true });
    throw e;
  }
  fsyncDir(dirname(path));
}
