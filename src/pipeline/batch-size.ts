// Frames one inference call takes at most: pipeline.batchSize, or for 'row' the tiles across the
// widest web or camera. The queue cuts batches by it and TensorRT's profiles are built for it.
import type { Config } from '../config/schema.js';
import { tileColumns } from '../linescan/web-tiler.js';

/** A row's tiles when the web's width is known only from its first chunk (line-scan capture drivers). */
export const UNKNOWN_ROW_TILES = 32;

export function maxBatchFrames(
  config: Pick<Config, 'pipeline' | 'source' | 'cameras' | 'linescan'>,
  tile: { width: number; height: number },
): number {
  const size = config.pipeline.batchSize;
  if (size !== 'row') return size;
  const widths =
    config.cameras.length > 0 ? config.cameras.map((c) => c.widthPx) : config.source.type === 'synthetic-web' ? [config.source.width] : [];
  if (widths.length === 0) return UNKNOWN_ROW_TILES;
  const across = (webWidth: number) =>
    tileColumns({ webWidth, tileWidth: tile.width, tileHeight: tile.height, overlap: config.linescan.overlap }).length;
  return Math.max(...widths.map(across));
}
