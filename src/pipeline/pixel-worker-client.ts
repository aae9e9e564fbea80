// Main-thread handle on the pixel worker (pixel-worker.ts): batches prepared and line-scan web
// maps merged off the event loop.
import type { DefectRegion } from '../core/frame.js';
import type { Image8 } from '../core/image.js';
import { moduleWorker, siblingModule, WorkerClient } from '../core/worker-rpc.js';
import type { WebScale } from '../linescan/web-map.js';
import type { TileGeometry } from '../linescan/web-tiler.js';
import type { Normalization, ResizePolicy } from '../preprocess/transform.js';
import type { PixelRequest, PreparedBatch } from './pixel-protocol.js';

let streams = 0;

export class PixelWorker {
  private readonly client = new WorkerClient<PixelRequest>(moduleWorker(siblingModule(import.meta.url, 'pixel-worker')), 'pixel worker');

  /** Resize policy and normalisation for a batch; the images' buffers travel and come back. */
  prepare(images: Image8[], policy: ResizePolicy, norm: Normalization): Promise<PreparedBatch> {
    const transfer = new Set<ArrayBuffer>();
    for (const img of images)
      if (img.data.byteOffset === 0 && img.data.byteLength === img.data.buffer.byteLength && img.data.buffer instanceof ArrayBuffer)
        transfer.add(img.data.buffer);
    return this.client.request<PreparedBatch>({ type: 'prepare', images, policy, norm }, [...transfer]);
  }

  /** Defect regions of one map [height, width] (the map is copied to the worker). */
  regions(map: Float32Array, width: number, height: number, threshold: number, minArea: number): Promise<DefectRegion[]> {
    return this.client.request<DefectRegion[]>({ type: 'regions', map, width, height, threshold, minArea });
  }

  /** A web map merged in the worker (linescan/web-map.ts): add tiles row by row, then flush. */
  webMap(geometry: TileGeometry, minArea: number, scale: WebScale): WebMapClient {
    const stream = streams++;
    return {
      add: (tile, map, threshold) =>
        this.client.request<DefectRegion[]>({ type: 'merge-add', stream, geometry, minArea, scale, tile, map, threshold }),
      flush: (threshold) => this.client.request<DefectRegion[]>({ type: 'merge-flush', stream, threshold }),
      reportedBefore: () => this.client.request<number>({ type: 'merge-front', stream }),
    };
  }

  close(): Promise<void> {
    return this.client.close();
  }
}

export interface WebMapClient {
  /** The map is copied to the worker (the frame keeps its own for heat maps). */
  add(tile: { row: number; col: number; line: number; x: number }, map: Float32Array, threshold: number): Promise<DefectRegion[]>;
  flush(threshold: number): Promise<DefectRegion[]>;
  /** Every region whose top is above this web line has been returned (read after `add`: requests run in order). */
  reportedBefore(): Promise<number>;
}
