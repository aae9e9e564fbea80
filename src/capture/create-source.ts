// The configured source as the pipeline consumes it: area frames, or, for line-scan cameras,
// chunks of lines (the synthetic web delivers lines itself; a camera driver's N-line frames
// become chunks).
import { map, type Observable, type OperatorFunction } from 'rxjs';
import { isLineScan, type Config } from '../config/schema.js';
import type { Flow } from '../core/flow.js';
import type { Frame, LineChunk } from '../core/frame.js';
import type { SyntheticWeb } from '../linescan/synthetic-web.js';
import { folderSource } from './folder-source.js';
import type { SourceEvents } from './source-events.js';
import { syntheticWebSource } from './synthetic-web-source.js';
import { videoSource } from './video-source.js';

export type Source =
  | { kind: 'frames'; frames: Observable<Frame> }
  | {
      kind: 'lines';
      chunks: Observable<LineChunk>;
      /** Web width in pixels when known before the first chunk (0: taken from it). */
      webWidth: number;
      /** The simulated web, for the synthetic source (ground truth of injected defects). */
      web?: SyntheticWeb;
    };

/** Area frames from a line-scan camera driver (N lines per frame) as line chunks. */
export function framesToChunks(): OperatorFunction<Frame, LineChunk> {
  let line = 0;
  return map((f) => {
    const chunk: LineChunk = {
      seq: f.seq,
      timestamp: f.timestamp,
      firstLine: line,
      lines: f.image.height,
      width: f.image.width,
      data: f.image.data,
    };
    line += f.image.height;
    return chunk;
  });
}

export function createSource(config: Pick<Config, 'source' | 'linescan'>, flow: Flow, events: SourceEvents): Source {
  const c = config.source;
  if (c.type === 'synthetic-web') {
    const { chunks, web } = syntheticWebSource(
      {
        width: c.width,
        seed: c.seed,
        defectEvery: c.defectEvery,
        linesPerChunk: c.linesPerChunk,
        linesPerSecond: c.linesPerSecond,
        lines: c.lines,
      },
      flow,
    );
    return { kind: 'lines', chunks, webWidth: c.width, web };
  }
  const frames =
    c.type === 'folder'
      ? folderSource(c, flow, events)
      : c.type === 'video'
        ? videoSource({ device: c.path, live: false, loop: c.loop }, flow, events)
        : videoSource({ device: c.device, live: true, reconnect: c.reconnect }, flow, events);
  return isLineScan(config) ? { kind: 'lines', chunks: frames.pipe(framesToChunks()), webWidth: 0 } : { kind: 'frames', frames };
}
