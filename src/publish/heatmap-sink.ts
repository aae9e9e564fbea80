// Heat maps out of the pipeline: rate-limited to MQTT (anomalous frames first) and, optionally,
// every anomalous frame's overlay to a folder.
import { mkdirSync } from 'node:fs';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { overlayJpeg } from '../imaging/overlay.js';
import type { PipelineMetrics } from '../metrics/metrics.js';
import { toFloat16 } from './float16.js';
import type { MqttPublisher } from './mqtt-publisher.js';
import type { ResultSink, ScoredResult } from './result-sink.js';
import { RateLimiter } from '../core/rate-limiter.js';

export interface HeatmapOptions {
  enabled: boolean;
  format: 'jpeg' | 'float16';
  maxPerSecond: number;
  quality: number;
  dir?: string;
}

export class HeatmapSink implements ResultSink {
  readonly name = 'heat maps';
  private readonly limiter: RateLimiter;

  constructor(
    private readonly opts: HeatmapOptions,
    private readonly publisher: MqttPublisher | undefined,
    private readonly metrics: PipelineMetrics,
    private readonly log: (s: string) => void = () => {},
  ) {
    this.limiter = new RateLimiter(opts.maxPerSecond);
    if (opts.dir) mkdirSync(opts.dir, { recursive: true });
  }

  async handle({ frame: f }: ScoredResult): Promise<void> {
    let jpeg: Buffer | undefined;
    const overlayOnce = async () => (jpeg ??= await overlayJpeg(f.view, f.map(), f.threshold, this.opts.quality));
    if (this.opts.dir && f.isAnomaly) {
      const file = join(this.opts.dir, `${String(f.seq).padStart(7, '0')}-score${f.score.toFixed(1)}.jpg`);
      await writeFile(file, await overlayOnce()).catch((e: Error) => this.log(`output.heatmapDir: cannot write ${file}: ${e.message}`));
    }
    if (!this.opts.enabled || !this.publisher) return;
    if (!this.limiter.take(f.isAnomaly)) {
      this.metrics.heatmapsSkipped.inc();
      return;
    }
    const props = {
      seq: String(f.seq),
      width: String(f.view.width),
      height: String(f.view.height),
      format: this.opts.format,
      threshold: String(f.threshold),
    };
    const payload = this.opts.format === 'jpeg' ? await overlayOnce() : Buffer.from(toFloat16(f.map()));
    this.publisher.publishHeatmap(payload, props, f.camera);
  }

  async close(): Promise<void> {}
}
