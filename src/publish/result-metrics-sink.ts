// Prometheus counters of what leaves the pipeline: frames, scores, anomalies, defect regions and
// the time of the last result (stall detection).
import type { PipelineMetrics } from '../metrics/metrics.js';
import type { ResultSink, ScoredResult } from './result-sink.js';

export class ResultMetricsSink implements ResultSink {
  readonly name = 'result metrics';

  constructor(private readonly metrics: PipelineMetrics) {}

  handle({ frame: f }: ScoredResult): void {
    this.metrics.framesOut.inc();
    this.metrics.score.observe(Number.isFinite(f.normalizedScore) ? f.normalizedScore : 0);
    this.metrics.lastResult.set(Date.now() / 1000);
    if (f.isAnomaly) this.metrics.anomalies.inc();
    this.metrics.defectRegions.inc(f.regions.length);
  }

  async close(): Promise<void> {}
}
