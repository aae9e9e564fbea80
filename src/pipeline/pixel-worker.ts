// Worker-thread side of the pixel worker: the per-pixel work of the live pipeline that is plain
// JS (resize and normalisation of frames, defect regions, the line-scan web map), so the main
// thread keeps serving MQTT, /metrics and timers while frames stream.
import { parentPort } from 'node:worker_threads';
import type { DefectRegion } from '../core/frame.js';
import { serveRequests } from '../core/worker-rpc.js';
import { findRegions, publicRegion } from '../imaging/defect-regions.js';
import { WebMapMerger } from '../linescan/web-map.js';
import { imagesToBatch } from '../preprocess/batch.js';
import { applyResizePolicy, outputSize } from '../preprocess/transform.js';
import type { PixelRequest, PreparedBatch } from './pixel-protocol.js';

if (!parentPort) throw new Error('pixel-worker must run as a worker thread');

const mergers = new Map<number, { merger: WebMapMerger; threshold: number }>();

function merger(msg: Extract<PixelRequest, { type: 'merge-add' }>): { merger: WebMapMerger; threshold: number } {
  let m = mergers.get(msg.stream);
  if (!m) {
    const state = { threshold: msg.threshold, merger: undefined as unknown as WebMapMerger };
    state.merger = new WebMapMerger(msg.geometry, () => state.threshold, msg.minArea, msg.scale);
    m = state;
    mergers.set(msg.stream, m);
  }
  m.threshold = msg.threshold;
  return m;
}

serveRequests<PixelRequest & { id: number }>(parentPort, (msg): PreparedBatch | DefectRegion[] | number => {
  switch (msg.type) {
    case 'prepare': {
      const views = msg.images.map((img) => applyResizePolicy(img, msg.policy));
      const size = outputSize(msg.policy);
      const batch = imagesToBatch(views, { mode: 'exact', width: size.width, height: size.height }, msg.norm);
      return { batch: batch.data, dims: batch.dims, views, images: msg.images };
    }
    case 'merge-add':
      return merger(msg).merger.add(msg.tile, msg.map);
    case 'regions':
      return findRegions(msg.map, msg.width, msg.height, msg.threshold, msg.minArea).regions.map(publicRegion);
    case 'merge-front':
      return mergers.get(msg.stream)?.merger.reportedBefore ?? 0;
    case 'merge-flush': {
      const m = mergers.get(msg.stream);
      mergers.delete(msg.stream);
      if (!m) return [];
      m.threshold = msg.threshold;
      return m.merger.flush();
    }
  }
});
