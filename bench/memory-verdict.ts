// The soak's memory verdict. A process's allocators fill up to their working set over the first
// minutes (more so with two inference workers taking turns); a leak keeps growing after that.
// The curve after warm-up is a sawtooth (collections, allocator trims) of ±15 MB: a line fitted
// to 15 minutes of it measures the phase of the teeth more than a trend. The verdict compares
// high-water marks instead: the peak of the last third after warm-up against the peak of the
// middle third. A bounded process sets no new high; a leak of RSS_SLOPE_BOUND raises it by that
// rate times the third's length.

/** MB/min of RSS growth that counts as a leak: 720 MB a day. */
export const RSS_SLOPE_BOUND = 0.5;

export interface RssSample {
  /** Minutes since the start. */
  t: number;
  rssMb: number;
}

/** Least-squares RSS slope (MB/min) of the samples from minute `from` on (NaN with fewer than 3). */
export function rssSlope(samples: RssSample[], from: number): number {
  const xs = samples.filter((s) => s.t >= from && Number.isFinite(s.rssMb));
  if (xs.length < 3) return NaN;
  const mx = xs.reduce((a, s) => a + s.t, 0) / xs.length;
  const my = xs.reduce((a, s) => a + s.rssMb, 0) / xs.length;
  const num = xs.reduce((a, s) => a + (s.t - mx) * (s.rssMb - my), 0);
  const den = xs.reduce((a, s) => a + (s.t - mx) ** 2, 0);
  return num / den;
}

export interface MemoryVerdict {
  /** Length of a third of the run after warm-up, minutes. */
  third: number;
  middlePeak: number;
  lastPeak: number;
  /** lastPeak - middlePeak, MB, and the most it may be. */
  rise: number;
  bound: number;
  pass: boolean;
}

/** The verdict on a run planned for `minutes` whose warm-up ended at minute `warmUpMin`. */
export function memoryVerdict(samples: RssSample[], warmUpMin: number, minutes: number): MemoryVerdict {
  const third = (minutes - warmUpMin) / 3;
  const peak = (from: number, to: number): number =>
    Math.max(...samples.filter((s) => s.t >= from && s.t < to && Number.isFinite(s.rssMb)).map((s) => s.rssMb));
  const middlePeak = peak(warmUpMin + third, warmUpMin + 2 * third);
  const lastPeak = peak(warmUpMin + 2 * third, Infinity);
  const rise = lastPeak - middlePeak;
  const bound = RSS_SLOPE_BOUND * third;
  return { third, middlePeak, lastPeak, rise, bound, pass: rise < bound };
}
