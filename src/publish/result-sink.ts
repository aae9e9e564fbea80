// Where scored frames go: every consumer (MQTT results, heat maps, Sparkplug, the results file,
// metrics, run statistics) is a ResultSink, and `fanOut` hands each frame to all of them in
// order. The service lists its sinks in one place (service/result-sinks.ts).
import { concatMap, type OperatorFunction } from 'rxjs';
import type { ScoredFrame } from '../core/frame.js';
import type { ResultPayload } from './payload-schema.js';

export interface ScoredResult {
  readonly frame: ScoredFrame;
  /**
   * The result payload (MQTT, results file), built once per frame when a sink first asks for
   * it; its `latency_ms.publish` is the time the frame spent in the sinks before that.
   */
  payload(): ResultPayload;
}

export interface ResultSink {
  /** For logs: which sink failed. */
  readonly name: string;
  /** One frame, in order; the next frame waits for a returned promise. */
  handle(result: ScoredResult): void | Promise<void>;
  /** After the last frame: flush and release. */
  close(): Promise<void>;
}

export interface FanOutOptions {
  payload(frame: ScoredFrame, now: number): ResultPayload;
  /** Called with the publish latency when a frame's payload is built. */
  onPayload?(publishMs: number): void;
}

/** Each frame to every sink in turn; emits the frame as delivered (latency.publish filled in when built). */
export function fanOut(sinks: ResultSink[], opts: FanOutOptions): OperatorFunction<ScoredFrame, ScoredFrame> {
  return concatMap(async (scored) => {
    const started = performance.now();
    let frame = scored;
    let payload: ResultPayload | undefined;
    const result: ScoredResult = {
      get frame() {
        return frame;
      },
      payload: () => {
        if (!payload) {
          const publishMs = performance.now() - started;
          frame = { ...frame, latency: { ...frame.latency, publish: publishMs } };
          opts.onPayload?.(publishMs);
          payload = opts.payload(frame, Date.now());
        }
        return payload;
      },
    };
    for (const sink of sinks) await sink.handle(result);
    return frame;
  });
}

/** Closes sinks in order; a failure is logged and the rest still close. */
export async function closeSinks(sinks: ResultSink[], log: (s: string) => void): Promise<void> {
  for (const sink of sinks) {
    try {
      await sink.close();
    } catch (e) {
      log(`closing ${sink.name}: ${(e as Error).message}`);
    }
  }
}
