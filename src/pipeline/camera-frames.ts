// Several line-scan cameras over one web (config `cameras`): each camera's lines are tiled on
// their own and its tiles carry its id; the tiles of all cameras then share one queue, so
// batches mix cameras and one backbone serves them all. Cameras without a driver of their own
// view the synthetic web of `source`: one web is drawn, each chunk cut into the cameras' views,
// so the views advance in step, like cameras on one encoder.
import { map, merge, share, takeUntil, type Observable } from 'rxjs';
import { createSource } from '../capture/create-source.js';
import type { SourceEvents } from '../capture/source-events.js';
import { syntheticWebSource } from '../capture/synthetic-web-source.js';
import type { Config } from '../config/schema.js';
import type { Flow } from '../core/flow.js';
import type { Frame, LineChunk } from '../core/frame.js';
import { webLayout, type CameraPlacement, type WebLayout } from '../linescan/camera-layout.js';
import type { SyntheticWeb } from '../linescan/synthetic-web.js';
import type { TileGeometry } from '../linescan/web-tiler.js';
import { tileWeb } from './tile-web.js';

type CamerasConfig = Pick<Config, 'source' | 'linescan' | 'cameras'>;

/** The cameras placed on the web; errors name `cameras[i]` and the field. */
export function cameraLayout(config: CamerasConfig): WebLayout {
  const placements: CameraPlacement[] = config.cameras.map((c) => ({
    id: c.id,
    offsetMm: c.offsetMm,
    mmPerPixel: c.mmPerPixel ?? config.linescan.mmPerPixel,
    widthPx: c.widthPx,
  }));
  const layout = webLayout(placements);
  const s = config.source;
  config.cameras.forEach((c, i) => {
    if (c.source || s.type !== 'synthetic-web') return;
    const x0 = syntheticX0(placements[i]!);
    if (x0 < 0 || x0 + c.widthPx > s.width)
      throw new RangeError(
        `cameras[${i}] ('${c.id}'): its view, pixels ${x0}-${x0 + c.widthPx} of the synthetic web, lies outside source.width (${s.width} px)`,
      );
  });
  return layout;
}

/** Where a camera's view starts in the synthetic web's pixels (the web is drawn at the camera's pitch). */
function syntheticX0(p: CameraPlacement): number {
  return Math.round(p.offsetMm / p.mmPerPixel);
}

/** Columns [x0, x0 + width) of a chunk of lines: one camera's view of a wider web. */
export function viewOf(chunk: LineChunk, x0: number, width: number): LineChunk {
  const data = new Uint8Array(chunk.lines * width * 3);
  for (let y = 0; y < chunk.lines; y++)
    data.set(chunk.data.subarray((y * chunk.width + x0) * 3, (y * chunk.width + x0 + width) * 3), y * width * 3);
  return { ...chunk, width, data };
}

export interface CameraFrames {
  /** Tiles of every camera, each with its `camera`. */
  frames: Observable<Frame>;
  layout: WebLayout;
  /** Each camera's tiling (camera pixels). */
  geometries: Map<string, TileGeometry>;
  /** The simulated web the views show (ground truth of injected defects). */
  web?: SyntheticWeb;
}

export function cameraFrames(
  config: CamerasConfig,
  tile: { width: number; height: number },
  flow: Flow,
  events: (camera: string) => SourceEvents,
  stop$: Observable<unknown>,
  lineHooks: (camera: string) => { onBadChunk(chunk: LineChunk, e: Error): void; onLines(n: number): void },
): CameraFrames {
  const layout = cameraLayout(config);
  const s = config.source;
  const synthetic = s.type === 'synthetic-web' && config.cameras.some((c) => !c.source) ? syntheticWebSource(s, flow) : undefined;
  const whole = synthetic?.chunks.pipe(share());
  const geometries = new Map<string, TileGeometry>();
  const streams = config.cameras.map((c) => {
    const placed = layout.cameras.find((p) => p.id === c.id)!;
    const geometry: TileGeometry = {
      webWidth: c.widthPx,
      tileWidth: tile.width,
      tileHeight: tile.height,
      overlap: config.linescan.overlap,
    };
    geometries.set(c.id, geometry);
    let chunks: Observable<LineChunk>;
    if (c.source) {
      const source = createSource({ source: c.source, linescan: { ...config.linescan, enabled: true } }, flow, events(c.id));
      if (source.kind !== 'lines') throw new Error(`cameras: '${c.id}' does not deliver lines`);
      chunks = source.chunks;
    } else if (whole) {
      const x0 = syntheticX0(placed);
      chunks = whole.pipe(map((chunk) => viewOf(chunk, x0, c.widthPx)));
    } else {
      throw new Error(`cameras: '${c.id}' has no source and source.type is '${s.type}'`);
    }
    return chunks.pipe(
      takeUntil(stop$),
      tileWeb(geometry, lineHooks(c.id)),
      map((f): Frame => ({ ...f, camera: c.id })),
    );
  });
  return { frames: merge(...streams), layout, geometries, ...(synthetic ? { web: synthetic.web } : {}) };
}
