// Image scores over the last minutes, for the page's timeline: one point per 200 ms bucket (its
// highest score: a spike is never averaged away), and what is new since the last read.

const BUCKET_MS = 200;

export class Timeline {
  /** [time ms, score, anomalous 0/1], oldest first. */
  private points: [number, number, number][] = [];
  private sent = 0;

  constructor(
    private readonly seconds: number,
    private readonly now: () => number = Date.now,
  ) {}

  add(score: number, anomalous: boolean): void {
    const t = Math.floor(this.now() / BUCKET_MS) * BUCKET_MS;
    const last = this.points.at(-1);
    if (last && last[0] === t) {
      if (score > last[1]) last[1] = score;
      if (anomalous) last[2] = 1;
      // A bucket already sent is sent again with its new value.
      if (this.sent === this.points.length) this.sent--;
    } else {
      this.points.push([t, score, anomalous ? 1 : 0]);
    }
    const cut = this.now() - this.seconds * 1000;
    let drop = 0;
    while (drop < this.points.length && this.points[drop]![0] < cut) drop++;
    if (drop > 0) {
      this.points = this.points.slice(drop);
      this.sent = Math.max(0, this.sent - drop);
    }
  }

  /** Everything kept (a page that just connected). */
  all(): [number, number, number][] {
    return this.points.map((p) => [...p] as [number, number, number]);
  }

  /** Points added or changed since the last call. */
  fresh(): [number, number, number][] {
    const out = this.points.slice(this.sent).map((p) => [...p] as [number, number, number]);
    this.sent = this.points.length;
    return out;
  }
}
