// Prometheus counters of what leaves the pipeline: frames, scores, anomalies, defect regions and
// the time of the last result (stall detection). Counted per recipe (product), taken from the
// bank id that scored the frame (`recipe@vN`; empty for a bank file configured directly).
import type { PipelineMetrics } from '../metrics/metrics.js';
import type { ResultSink, ScoredResult } from './result-sink.js';

export class ResultMetricsSink implements ResultSink {
  readonly name = 'result metrics';

  constructor(private readonly metrics: PipelineMetrics) {}

  handle({ frame: f }: ScoredResult): void {
    const recipe = recipeOf(f.bankId);
    this.metrics.framesOut.inc({ recipe });
    this.metrics.score.observe(Number.isFinite(f.normalizedScore) ? f.normalizedScore : 0);
    this.metrics.lastResult.set(Date.now() / 1000);
    if (f.isAnomaly) this.metrics.anomalies.inc({ recipe });
    this.metrics.defectRegions.inc({ recipe }, f.regions.length);
  }

  async close(): Promise<void> {}
}

/** The recipe of a bank id `recipe@vN` ('' for `file.bank@checksum`). */
export function recipeOf(bankId: string): string {
  return /^(.+)@v\d+$/.exec(bankId)?.[1] ?? '';
}
