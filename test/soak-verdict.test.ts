// The soak's memory verdict on made-up curves: a bounded sawtooth passes whatever the phase of its
// teeth, a leak at the bound's rate fails.
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { memoryVerdict, RSS_SLOPE_BOUND, rssSlope, type RssSample } from '../bench/memory-verdict.js';

/** `minutes` sampled every 5 s: a warm-up ramp to 500 MB, then teeth of ±15 MB, plus `leak` MB/min. */
function curve(periodMin: number, phase: number, leak: number, minutes = 90): RssSample[] {
  const out: RssSample[] = [];
  for (let t = 0; t <= minutes; t += 5 / 60) {
    const ramp = t < 3 ? 400 + (100 * t) / 3 : 500;
    const tooth = 15 * (2 * (((t + phase) / periodMin) % 1) - 1);
    out.push({ t, rssMb: ramp + (t >= 3 ? tooth + leak * (t - 3) : 0) });
  }
  return out;
}

describe('soak memory verdict', () => {
  test('a flat sawtooth with teeth shorter than a third passes at every phase; a line fitted to its second half may not', () => {
    let steepest = 0;
    // Teeth shorter than a third of the run after warm-up; a single longer tooth looks like growth.
    for (const minutes of [30, 90])
      for (const period of minutes === 30 ? [4, 7] : [4, 7, 13, 19])
        for (const phase of [0, 0.25, 0.5, 0.75].map((p) => p * period)) {
          const samples = curve(period, phase, 0, minutes);
          const v = memoryVerdict(samples, 3, minutes);
          assert.ok(v.pass, `${minutes} min, period ${period}, phase ${phase}: rise ${v.rise}`);
          steepest = Math.max(steepest, Math.abs(rssSlope(samples, minutes / 2)));
        }
    // The reason for peaks: a line fitted to the second half of the same flat curves crosses the bound.
    assert.ok(steepest > RSS_SLOPE_BOUND, `steepest fitted slope ${steepest}`);
  });

  test('a leak at the bound fails at every phase; half of it is still visible as a rise', () => {
    for (const phase of [0, 2, 4, 6]) {
      assert.equal(memoryVerdict(curve(7, phase, RSS_SLOPE_BOUND * 1.2), 3, 90).pass, false);
      const half = memoryVerdict(curve(7, phase, RSS_SLOPE_BOUND / 2), 3, 90);
      assert.ok(half.rise > 0, `phase ${phase}: rise ${half.rise}`);
    }
  });
});
