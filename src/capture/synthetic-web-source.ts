// The simulated line-scan camera: chunks of lines of a SyntheticWeb, at a given line rate or as
// fast as the pipeline takes them.
import type { Observable } from 'rxjs';
import type { Flow } from '../core/flow.js';
import type { LineChunk } from '../core/frame.js';
import { SyntheticWeb, type SyntheticWebOptions } from '../linescan/synthetic-web.js';
import { fromLoop, sleep } from './from-loop.js';

export function syntheticWebSource(
  opts: SyntheticWebOptions & { linesPerChunk: number; linesPerSecond: number; lines: number },
  flow: Flow,
): { chunks: Observable<LineChunk>; web: SyntheticWeb } {
  const web = new SyntheticWeb(opts);
  const chunks = fromLoop<LineChunk>(async (emit, closed) => {
    let seq = 0;
    const start = Date.now();
    for (let first = 0; opts.lines === 0 || first < opts.lines; first += opts.linesPerChunk) {
      if (closed()) return;
      await flow.room();
      const n = opts.lines === 0 ? opts.linesPerChunk : Math.min(opts.linesPerChunk, opts.lines - first);
      if (opts.linesPerSecond > 0) {
        const due = start + ((first + n) / opts.linesPerSecond) * 1000;
        if (due > Date.now()) await sleep(due - Date.now());
      } else {
        // Yield so a pipeline consuming as fast as it can still serves timers and sockets.
        await new Promise((r) => setImmediate(r));
      }
      emit({ seq: seq++, timestamp: Date.now(), firstLine: first, lines: n, width: opts.width, data: web.render(first, n) });
    }
  });
  return { chunks, web };
}
