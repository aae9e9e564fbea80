// Where a scored frame goes next: the service's sinks, in the order each frame visits them.
//   1. Prometheus counters (frames, scores, anomalies, regions, last result time)
//   2. heat maps: rate-limited to MQTT, overlays of anomalous frames to output.heatmapDir
//   3. the MQTT result (bounded in-order offline queue, QoS 1); the payload is built here, once
//   4. run statistics (status line, demo summary, result rate)
//   5. Sparkplug B DDATA (mqtt.sparkplug.enabled)
//   6. the local results file (output.resultsFile), the same payload as MQTT
//   7. the operator page (ui.enabled): live tiles, web strip, timeline, defect gallery
//   8. teaching (recipes): frames kept as training images while a teach captures
//   9. the embedding program's own callback (demo, benchmarks)
import type { Config } from '../config/schema.js';
import type { ScoredFrame } from '../core/frame.js';
import type { PipelineMetrics } from '../metrics/metrics.js';
import { HeatmapSink } from '../publish/heatmap-sink.js';
import type { MqttPublisher } from '../publish/mqtt-publisher.js';
import { ResultMetricsSink } from '../publish/result-metrics-sink.js';
import type { ResultSink } from '../publish/result-sink.js';
import { ResultsFileSink } from '../publish/results-file-sink.js';
import type { SparkplugNode } from '../publish/sparkplug.js';
import type { BankJobs } from './bank-job.js';
import type { RunStats } from './run-stats.js';

export interface SinkParts {
  config: Config;
  metrics: PipelineMetrics;
  publisher: MqttPublisher;
  stats: RunStats;
  sparkplug?: SparkplugNode;
  operator?: ResultSink;
  teach?: BankJobs;
  onResult?: (f: ScoredFrame) => void;
  log: (s: string) => void;
}

export function resultSinks(p: SinkParts): ResultSink[] {
  const { config: c } = p;
  const sinks: ResultSink[] = [
    new ResultMetricsSink(p.metrics),
    new HeatmapSink({ ...c.mqtt.heatmap, dir: c.output.heatmapDir }, p.publisher, p.metrics, p.log),
    p.publisher,
    p.stats,
  ];
  if (p.sparkplug) sinks.push(p.sparkplug);
  if (c.output.resultsFile) sinks.push(new ResultsFileSink(c.output.resultsFile, p.log));
  if (p.operator) sinks.push(p.operator);
  const teach = p.teach;
  if (teach) sinks.push({ name: 'teach capture', handle: ({ frame }) => teach.offer(frame), close: async () => {} });
  const onResult = p.onResult;
  if (onResult) sinks.push({ name: 'result callback', handle: ({ frame }) => onResult(frame), close: async () => {} });
  return sinks;
}
