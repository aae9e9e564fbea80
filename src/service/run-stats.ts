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
    const now = Date.now();
    this.recent.push(now);
    this.forget(now);
  }

  private forget(now: number): void {
    let old = 0;
    while (old < this.recent.length && this.recent[old]! < now - RATE_WINDOW_MS) old++;
    if (old > 0) this.recent.splice(0, old);
  }

  /** Results per second over the last 5 s. */
  framesPerSecond(now = Date.now()): number {
    this.forget(now);
    return this.recent.length / (RATE_WINDOW_MS / 1000);
  }

  async close(): Promise<void> {}
}
