// Messages between PixelWorker (main thread) and pixel-worker.
import type { Image8 } from '../core/image.js';
import type { WebScale } from '../linescan/web-map.js';
import type { TileGeometry } from '../linescan/web-tiler.js';
import type { Normalization, ResizePolicy } from '../preprocess/transform.js';

export type PixelRequest =
  | { type: 'prepare'; images: Image8[]; policy: ResizePolicy; norm: Normalization }
  | {
      type: 'merge-add';
      /** One web map per stream (one per pipeline run). */
      stream: number;
      geometry: TileGeometry;
      minArea: number;
      scale: WebScale;
      tile: { row: number; col: number; line: number; x: number };
      map: Float32Array;
      threshold: number;
    }
  | { type: 'merge-flush'; stream: number; threshold: number }
  /** How far along the web the stream's map has returned every region (WebMapMerger.reportedBefore). */
  | { type: 'merge-front'; stream: number }
  | { type: 'regions'; map: Float32Array; width: number; height: number; threshold: number; minArea: number };

export interface PreparedBatch {
  /** [N, 3, H, W] normalised. */
  batch: Float32Array;
  dims: [number, number, number, number];
  /** The frames at the model's input size (after the resize policy). */
  views: Image8[];
  /** The frames' images, handed back (their buffers travelled to the worker and back). */
  images: Image8[];
}
