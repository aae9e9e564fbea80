// Image folders as a frame source, in name order, optionally watched for new files. A watched
// folder is a drop box that plants fill while the service reads it, so: a file is read once it
// has stopped changing, a partly written file is read again before it counts as bad, only
// regular files of sane size are read (never a FIFO or a device), and a folder that disappears
// (unmounted, deleted) is reported down and picked up again when it returns.
import { readdir, stat } from 'node:fs/promises';
import { join } from 'node:path';
import type { Observable } from 'rxjs';
import type { Flow } from '../core/flow.js';
import type { Frame } from '../core/frame.js';
import type { Image8 } from '../core/image.js';
import { isImageFile } from '../io/image-files.js';
import { ImageDecodeError, readImage } from '../preprocess/decode.js';
import { fromLoop, sleep } from './from-loop.js';
import type { SourceEvents } from './source-events.js';

export interface FolderSourceOptions {
  path: string;
  watch: boolean;
  pollMs: number;
  settleMs: number;
  retries: number;
  maxFileMb: number;
  maxPixels: number;
  readTimeoutMs: number;
}

interface Waiting {
  size: number;
  mtimeMs: number;
  /** Local time since when size and mtime have not changed. */
  unchangedSince: number;
  /** Reads that failed in a way a complete file would not (truncated). */
  attempts: number;
}

const byName = (a: string, b: string) => (a < b ? -1 : a > b ? 1 : 0);

export function folderSource(opts: FolderSourceOptions, flow: Flow, events: SourceEvents): Observable<Frame> {
  const limits = { maxBytes: opts.maxFileMb * 2 ** 20, maxPixels: opts.maxPixels, timeoutMs: opts.readTimeoutMs };
  return fromLoop<Frame>(async (emit, closed) => {
    /** Names read or counted as bad; forgotten when the file goes away (a new file of that name is new). */
    const done = new Set<string>();
    const waiting = new Map<string, Waiting>();
    let seq = 0;
    let up = true;
    for (;;) {
      let entries: string[];
      try {
        entries = await readdir(opts.path);
      } catch (e) {
        const why = `cannot read folder ${opts.path}: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`;
        if (!opts.watch) throw new Error(`source.path: ${why}`);
        if (up) events.onState?.(false, why);
        up = false;
        if (closed()) return;
        await sleep(opts.pollMs);
        continue;
      }
      if (!up) events.onState?.(true, `folder ${opts.path} is readable again`);
      up = true;
      const names = entries.filter(isImageFile).sort(byName);
      const present = new Set(names);
      for (const n of done) if (!present.has(n)) done.delete(n);
      for (const n of waiting.keys()) if (!present.has(n)) waiting.delete(n);
      const todo = names.filter((n) => !done.has(n));
      events.onBacklog?.(todo.length);
      for (const name of todo) {
        if (closed()) return;
        const file = join(opts.path, name);
        const finish = () => {
          done.add(name);
          waiting.delete(name);
        };
        let st;
        try {
          st = await stat(file);
        } catch {
          waiting.delete(name);
          continue;
        }
        if (!st.isFile()) {
          finish();
          events.onBadFrame(file, new Error('not a regular file (a FIFO, device or folder); skipped'));
          continue;
        }
        if (opts.watch) {
          const now = Date.now();
          const seen = waiting.get(name);
          const unchangedSince = seen && seen.size === st.size && seen.mtimeMs === st.mtimeMs ? seen.unchangedSince : now;
          waiting.set(name, { size: st.size, mtimeMs: st.mtimeMs, unchangedSince, attempts: seen?.attempts ?? 0 });
          // Settled: not modified for settleMs by its own clock, or by ours (a mount whose clock runs ahead).
          if (now - st.mtimeMs < opts.settleMs && now - unchangedSince < opts.settleMs) continue;
        }
        await flow.room();
        let image: Image8;
        try {
          image = await readImage(file, 'rgb', limits);
        } catch (e) {
          const w = waiting.get(name);
          if (opts.watch && w && e instanceof ImageDecodeError && e.retryable && w.attempts < opts.retries) {
            w.attempts++;
            continue;
          }
          finish();
          events.onBadFrame(file, e as Error);
          continue;
        }
        finish();
        emit({ seq: seq++, timestamp: Date.now(), image, position: { index: seq - 1, file }, latency: {} });
      }
      events.onBacklog?.(names.length - [...present].filter((n) => done.has(n)).length);
      if (!opts.watch || closed()) return;
      await sleep(opts.pollMs);
    }
  });
}
