// The score timeline: image scores over the last minutes, anomalous ones in red, with the
// threshold as a line (uPlot, bundled with the page).
import uPlot from 'uplot';
import type { TimelineMessage } from '../protocol.js';
import { byId } from './dom.js';

export class TimelineView {
  private readonly times: number[] = [];
  private readonly scores: number[] = [];
  private readonly anomalous: (number | null)[] = [];
  private threshold = 0;
  private readonly plot: uPlot;

  constructor(private readonly seconds: number) {
    const el = byId('timeline');
    this.plot = new uPlot(
      {
        width: Math.max(320, el.clientWidth),
        height: 220,
        series: [
          {},
          { label: 'score', stroke: '#4aa3ff', width: 1, points: { show: false } },
          { label: 'anomalous', stroke: '#ff3b30', width: 0, points: { show: true, size: 5, fill: '#ff3b30' } },
          { label: 'threshold', stroke: '#ffcc00', dash: [6, 4], width: 1, points: { show: false } },
        ],
        axes: [
          { stroke: '#aaa', grid: { stroke: '#333' } },
          { stroke: '#aaa', grid: { stroke: '#333' } },
        ],
        scales: { x: { time: true } },
        legend: { show: true },
      },
      [[], [], [], []],
      el,
    );
    new ResizeObserver(() => this.plot.setSize({ width: Math.max(320, el.clientWidth), height: 220 })).observe(el);
  }

  add(m: TimelineMessage): void {
    this.threshold = m.threshold;
    for (const [t, score, bad] of m.points) {
      const ts = t / 1000;
      if (this.times.length > 0 && this.times.at(-1) === ts) {
        this.scores[this.scores.length - 1] = score;
        this.anomalous[this.anomalous.length - 1] = bad ? score : null;
        continue;
      }
      this.times.push(ts);
      this.scores.push(score);
      this.anomalous.push(bad ? score : null);
    }
    const cut = Date.now() / 1000 - this.seconds;
    let drop = 0;
    while (drop < this.times.length && this.times[drop]! < cut) drop++;
    if (drop > 0) {
      this.times.splice(0, drop);
      this.scores.splice(0, drop);
      this.anomalous.splice(0, drop);
    }
    this.plot.setData([this.times, this.scores, this.anomalous, this.times.map(() => this.threshold)]);
  }

  get points(): number {
    return this.times.length;
  }
}
