// Time each frame waits between the source and inference: stamped when it enters the queue,
// measured when its batch leaves.
import { map, type MonoTypeOperatorFunction, type OperatorFunction } from 'rxjs';
import type { Frame } from '../core/frame.js';
import type { PipelineMetrics } from '../metrics/metrics.js';

export function stampEnqueued<T extends Frame>(): MonoTypeOperatorFunction<T> {
  return map((f) => ({ ...f, latency: { ...f.latency, enqueued: performance.now() } }));
}

/** Replaces the stamp by `latency.queue` (ms) and observes it. */
export function timeInQueue<T extends Frame>(metrics: PipelineMetrics): OperatorFunction<T[], T[]> {
  return map((batch) => {
    const now = performance.now();
    return batch.map((f) => {
      const { enqueued, ...rest } = f.latency;
      const waited = now - (enqueued ?? now);
      metrics.stageSeconds.observe({ stage: 'queue' }, waited / 1000);
      return { ...f, latency: { ...rest, queue: waited } };
    });
  });
}
