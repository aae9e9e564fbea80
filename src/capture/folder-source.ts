// Image folders as a frame source, in name order, optionally watched for new files.
import { readdirSync } from 'node:fs';
import { join } from 'node:path';
import type { Observable } from 'rxjs';
import type { Flow } from '../core/flow.js';
import type { Frame } from '../core/frame.js';
import type { Image8 } from '../core/image.js';
import { isImageFile } from '../io/image-files.js';
import { readImage } from '../preprocess/decode.js';
import { fromLoop, sleep } from './from-loop.js';
import type { SourceEvents } from './source-events.js';

export function folderSource(opts: { path: string; watch: boolean; pollMs: number }, flow: Flow, events: SourceEvents): Observable<Frame> {
  return fromLoop<Frame>(async (emit, closed) => {
    const seen = new Set<string>();
    let seq = 0;
    for (;;) {
      let entries: string[];
      try {
        entries = readdirSync(opts.path);
      } catch (e) {
        throw new Error(`source.path: cannot read folder ${opts.path}: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`);
      }
      const names = entries.filter((f) => isImageFile(f) && !seen.has(f)).sort((a, b) => (a < b ? -1 : a > b ? 1 : 0));
      for (const name of names) {
        if (closed()) return;
        await flow.room();
        seen.add(name);
        const file = join(opts.path, name);
        let image: Image8;
        try {
          image = await readImage(file, 'rgb');
        } catch (e) {
          events.onBadFrame(file, e as Error);
          continue;
        }
        emit({ seq: seq++, timestamp: Date.now(), image, position: { index: seq - 1, file }, latency: {} });
      }
      if (!opts.watch || closed()) return;
      await sleep(opts.pollMs);
    }
  });
}
