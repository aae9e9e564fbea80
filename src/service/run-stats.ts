// Counts of this run for people (the status line, the demo's summary) and the recent result
// rate (Sparkplug's frames_per_second).
import type { ScoredFrame } from '../core/frame.js';
import type { ResultSink, ScoredResult } from '../publish/result-sink.js';

const RATE_WINDOW_MS = 5000;

export class RunStats implements ResultSink {
  readonly name = 'run statistics';
  framesOut = 0;
  anomalies = 0;
  regions = 0;
  readonly startedAt = Date.now();
  last?: ScoredFrame;
  private readonly recent: number[] = [];

  handle({ frame }: ScoredResult): void {
    this.framesOut++;
    if (frame.isAnomaly) this.anomalies++;
    this.regions += frame.regions.length;
    this.last = frame;
    this.recent.push(Date.now());
  }

  /** Results per second over the last 5 s. */
  framesPerSecond(now = Date.now()): number {
    while (this.recent.length > 0 && this.recent[0]! < now - RATE_WINDOW_MS) this.recent.shift();
    return this.recent.length / (RATE_WINDOW_MS / 1000);
  }

  async close(): Promise<void> {}
}
