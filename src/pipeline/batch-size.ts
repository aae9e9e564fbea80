// How the queue and the batches are sized for a web: the tiles across one web row arrive at
// once, so one inference call may take a row (batchSize 'row', TensorRT's profiles sized for it),
// and the queue must hold a row or two while the previous one is scored.
import { queuePolicyOf, type Config } from '../config/schema.js';
import { tileColumns } from '../linescan/web-tiler.js';

/** A row's tiles when the web's width is known only from its first chunk (line-scan capture drivers). */
export const UNKNOWN_ROW_TILES = 32;

type SizingConfig = Pick<Config, 'pipeline' | 'source' | 'cameras' | 'linescan'>;

/** Tiles across the widest web or camera, where the config says the width (synthetic web, cameras). */
export function rowTiles(config: SizingConfig, tile: { width: number; height: number }): number | undefined {
  const widths =
    config.cameras.length > 0 ? config.cameras.map((c) => c.widthPx) : config.source.type === 'synthetic-web' ? [config.source.width] : [];
  if (widths.length === 0) return undefined;
  const across = (webWidth: number) =>
    tileColumns({ webWidth, tileWidth: tile.width, tileHeight: tile.height, overlap: config.linescan.overlap }).length;
  return Math.max(...widths.map(across));
}

/** Frames one inference call takes at most: pipeline.batchSize, or for 'row' a row's tiles. */
export function maxBatchFrames(config: SizingConfig, tile: { width: number; height: number }): number {
  const size = config.pipeline.batchSize;
  return size === 'row' ? (rowTiles(config, tile) ?? UNKNOWN_ROW_TILES) : size;
}

/**
 * Frames the queue holds: pipeline.queueSize, but with drop-oldest at least two web rows (every
 * camera's, with several): a row's tiles arrive at once, and a queue shorter than a row drops
 * tiles of every row even where inference keeps up on average (4096 px, 22 tiles a row,
 * queueSize 16, 300 lines/s: 32 of 176 tiles dropped). With 'block' a row only makes the source
 * wait.
 */
export function queueCapacity(config: SizingConfig, tile: { width: number; height: number }): number {
  if (queuePolicyOf(config) === 'block') return config.pipeline.queueSize;
  const row = rowTiles(config, tile) ?? 0;
  const cameras = Math.max(1, config.cameras.length);
  return Math.max(config.pipeline.queueSize, 2 * row * cameras);
}
