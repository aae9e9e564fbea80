// The frames the model sees, from the configured source: area frames as they come, or tiles cut
// from a line-scan web. `run` scores them; `teach` keeps them as training images, so a taught
// bank learns exactly the tiles it will score.
import { takeUntil, type Observable } from 'rxjs';
import { createSource } from '../capture/create-source.js';
import type { SourceEvents } from '../capture/source-events.js';
import type { Config } from '../config/schema.js';
import type { Flow } from '../core/flow.js';
import type { Frame, LineChunk } from '../core/frame.js';
import type { SyntheticWeb } from '../linescan/synthetic-web.js';
import type { TileGeometry } from '../linescan/web-tiler.js';
import { tileWeb } from './tile-web.js';

export interface FrameStream {
  frames: Observable<Frame>;
  /** Line-scan tiling (its webWidth is set from the first chunk for cameras). */
  geometry?: TileGeometry;
  /** The simulated web, for the synthetic source (ground truth of injected defects). */
  web?: SyntheticWeb;
}

export function frameStream(
  config: Pick<Config, 'source' | 'linescan'>,
  tile: { width: number; height: number },
  flow: Flow,
  events: SourceEvents,
  stop$: Observable<unknown>,
  lineHooks: { onBadChunk(chunk: LineChunk, e: Error): void; onLines(n: number): void },
): FrameStream {
  const source = createSource(config, flow, events);
  if (source.kind === 'frames') return { frames: source.frames.pipe(takeUntil(stop$)) };
  // webWidth 0: taken from the first chunk (cameras); tileWeb fills it in before anything reads it.
  const geometry: TileGeometry = {
    webWidth: source.webWidth,
    tileWidth: tile.width,
    tileHeight: tile.height,
    overlap: config.linescan.overlap,
  };
  return {
    frames: source.chunks.pipe(takeUntil(stop$), tileWeb(geometry, lineHooks)),
    geometry,
    ...(source.web ? { web: source.web } : {}),
  };
}
