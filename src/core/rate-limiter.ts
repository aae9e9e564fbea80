// A token bucket that keeps room for what matters: heat maps to MQTT and live tiles to the
// operator page go out at most `perSecond`, anomalous frames first.

/** Token bucket: `perSecond` tokens, at most `perSecond` stored (at least 1). */
export class RateLimiter {
  private tokens: number;
  private last: number;
  constructor(
    private readonly perSecond: number,
    private readonly now: () => number = Date.now,
  ) {
    this.tokens = Math.max(1, perSecond);
    this.last = now();
  }

  private refill(): void {
    const t = this.now();
    this.tokens = Math.min(Math.max(1, this.perSecond), this.tokens + ((t - this.last) / 1000) * this.perSecond);
    this.last = t;
  }

  /** Whether take(priority) would succeed now (nothing is taken). */
  peek(priority: boolean): boolean {
    if (this.perSecond <= 0) return false;
    this.refill();
    return this.tokens >= (priority ? 1 : Math.max(1, this.perSecond));
  }

  /** Priority takes any whole token; others only a full bucket's, keeping room for anomalies. */
  take(priority: boolean): boolean {
    if (this.perSecond <= 0) return false;
    this.refill();
    const need = priority ? 1 : Math.max(1, this.perSecond);
    if (this.tokens < need) return false;
    this.tokens -= 1;
    return true;
  }
}
