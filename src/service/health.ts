// What /healthz, /readyz, the systemd watchdog and the retained status say about the service.
// Alive: the pipeline has not failed and is not stuck (work waiting, nothing moving for
// stallTimeoutMs): systemd restarts a service that is not alive. Ready: also the source can be
// read and the broker is connected. A source that is down (folder unmounted, camera lost) is not
// a reason to restart: the service waits for it and says so.

export interface HealthReport {
  ok: boolean;
  detail: string;
}

export class Health {
  source = { up: true, detail: 'running' };
  /** Items waiting at the source (files in a watched folder). */
  backlog = 0;
  private lastFrameIn: number;
  private lastResult: number;

  constructor(
    private readonly stallTimeoutMs: number,
    /** Frames waiting for inference. */
    private readonly queueDepth: () => number,
    private readonly now: () => number = Date.now,
  ) {
    this.lastFrameIn = now();
    this.lastResult = now();
  }

  frameIn(): void {
    this.lastFrameIn = this.now();
  }

  result(): void {
    this.lastResult = this.now();
  }

  /** Why the service is stuck, or undefined. */
  stalled(): string | undefined {
    const t = this.now();
    const limit = this.stallTimeoutMs;
    if (this.queueDepth() > 0 && t - this.lastResult > limit)
      return `${this.queueDepth()} frame(s) queued, no result for ${((t - this.lastResult) / 1000).toFixed(0)} s`;
    if (this.source.up && this.backlog > 0 && t - this.lastFrameIn > limit)
      return `${this.backlog} item(s) waiting at the source, no frame read for ${((t - this.lastFrameIn) / 1000).toFixed(0)} s`;
    return undefined;
  }

  alive(running: boolean, failure: Error | undefined): HealthReport {
    if (failure) return { ok: false, detail: `pipeline failed: ${failure.message}` };
    const stall = running ? this.stalled() : undefined;
    if (stall) return { ok: false, detail: `stalled: ${stall}` };
    return { ok: true, detail: running ? 'running' : 'stopped' };
  }

  ready(running: boolean, failure: Error | undefined, brokerConnected: boolean): HealthReport {
    const alive = this.alive(running, failure);
    if (!alive.ok) return alive;
    if (!running) return { ok: false, detail: 'not running' };
    if (!this.source.up) return { ok: false, detail: `source down: ${this.source.detail}` };
    if (!brokerConnected) return { ok: false, detail: 'MQTT broker not connected' };
    return { ok: true, detail: 'model loaded, source running, broker connected' };
  }
}
