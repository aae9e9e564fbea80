// Prometheus metrics of a running pipeline (prom-client). Names follow Prometheus conventions:
// base units (seconds), `_total` for counters. docs/metrics.md lists them all.
import { collectDefaultMetrics, Counter, Gauge, Histogram, Registry } from 'prom-client';

const STAGE_BUCKETS = [0.001, 0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.2, 0.5, 1, 2, 5];

export class PipelineMetrics {
  readonly registry = new Registry();
  readonly framesIn = new Counter({
    name: 'patchline_frames_in_total',
    help: 'Frames (or line-scan tiles) that entered the pipeline',
    registers: [this.registry],
  });
  readonly framesOut = new Counter({
    name: 'patchline_frames_out_total',
    help: 'Frames scored and handed to the publisher',
    labelNames: ['recipe'],
    registers: [this.registry],
  });
  readonly framesDropped = new Counter({
    name: 'patchline_frames_dropped_total',
    help: 'Frames dropped, by reason (queue_full, bad_frame)',
    labelNames: ['reason'],
    registers: [this.registry],
  });
  readonly linesIn = new Counter({ name: 'patchline_linescan_lines_total', help: 'Line-scan lines received', registers: [this.registry] });
  readonly stageSeconds = new Histogram({
    name: 'patchline_stage_duration_seconds',
    help: 'Time per frame in each stage (queue, preprocess, inference, postprocess, publish)',
    labelNames: ['stage'],
    buckets: STAGE_BUCKETS,
    registers: [this.registry],
  });
  readonly batchSize = new Histogram({
    name: 'patchline_batch_size',
    help: 'Frames per inference call',
    buckets: [1, 2, 4, 8, 16, 32],
    registers: [this.registry],
  });
  readonly queueDepth = new Gauge({ name: 'patchline_queue_depth', help: 'Frames waiting for inference', registers: [this.registry] });
  readonly anomalies = new Counter({
    name: 'patchline_anomalies_total',
    help: 'Frames at or above the threshold',
    labelNames: ['recipe'],
    registers: [this.registry],
  });
  readonly defectRegions = new Counter({
    name: 'patchline_defect_regions_total',
    help: 'Defect regions reported',
    labelNames: ['recipe'],
    registers: [this.registry],
  });
  readonly score = new Histogram({
    name: 'patchline_normalized_score',
    help: 'Normalised anomaly score per frame (0.5 = threshold)',
    buckets: [0.1, 0.2, 0.3, 0.4, 0.45, 0.5, 0.55, 0.6, 0.7, 0.8, 0.9, 1],
    registers: [this.registry],
  });
  readonly lastResult = new Gauge({
    name: 'patchline_last_result_timestamp_seconds',
    help: 'Unix time of the last scored frame (stall detection)',
    registers: [this.registry],
  });
  readonly sourceUp = new Gauge({
    name: 'patchline_source_up',
    help: '1 while the source (camera, folder) can be read; 0 while it is down and the service waits for it',
    registers: [this.registry],
  });
  readonly cameraUp = new Gauge({
    name: 'patchline_camera_up',
    help: 'Several cameras over one web: 1 while the camera delivers, 0 while it is down (the others go on)',
    labelNames: ['camera'],
    registers: [this.registry],
  });
  readonly cameraLines = new Counter({
    name: 'patchline_camera_lines_total',
    help: 'Several cameras over one web: lines received per camera',
    labelNames: ['camera'],
    registers: [this.registry],
  });
  readonly cameraTiles = new Counter({
    name: 'patchline_camera_tiles_total',
    help: 'Several cameras over one web: tiles scored per camera',
    labelNames: ['camera'],
    registers: [this.registry],
  });
  readonly sourceBacklog = new Gauge({
    name: 'patchline_source_backlog',
    help: 'Items waiting at the source and not yet read (files in a watched folder)',
    registers: [this.registry],
  });
  readonly sourceReconnects = new Counter({
    name: 'patchline_source_reconnects_total',
    help: 'Reconnection attempts of live sources',
    registers: [this.registry],
  });
  readonly mqttConnected = new Gauge({
    name: 'patchline_mqtt_connected',
    help: '1 while connected to the MQTT broker',
    registers: [this.registry],
  });
  readonly mqttPublished = new Counter({
    name: 'patchline_mqtt_published_total',
    help: 'MQTT messages acknowledged (QoS>0) or sent (QoS 0), by kind',
    labelNames: ['kind'],
    registers: [this.registry],
  });
  readonly mqttErrors = new Counter({
    name: 'patchline_mqtt_publish_errors_total',
    help: 'MQTT publish failures (the message is retried from the offline queue)',
    registers: [this.registry],
  });
  readonly mqttQueued = new Gauge({
    name: 'patchline_mqtt_queued_messages',
    help: 'Results waiting in the offline queue',
    registers: [this.registry],
  });
  readonly mqttDropped = new Counter({
    name: 'patchline_mqtt_dropped_total',
    help: 'Results dropped because the offline queue was full',
    registers: [this.registry],
  });
  readonly heatmapsSkipped = new Counter({
    name: 'patchline_heatmaps_rate_limited_total',
    help: 'Heat maps not published because of the rate limit',
    registers: [this.registry],
  });
  readonly modelInfo = new Gauge({
    name: 'patchline_model_info',
    help: 'Backbone and bank in use (value 1)',
    labelNames: ['recipe', 'backbone', 'layers', 'bank', 'bank_rows', 'threshold'],
    registers: [this.registry],
  });
  readonly executionProvider = new Gauge({
    name: 'patchline_execution_provider_info',
    help: 'Execution providers asked for and the one the backbone runs on (value 1)',
    labelNames: ['requested', 'active'],
    registers: [this.registry],
  });
  readonly bankReloads = new Counter({
    name: 'patchline_bank_reloads_total',
    help: 'Bank hot reloads, by result (ok, failed, coalesced: superseded by a newer request before it started)',
    labelNames: ['result'],
    registers: [this.registry],
  });
  readonly uiPages = new Gauge({
    name: 'patchline_ui_pages',
    help: 'Operator pages connected to the live feed',
    registers: [this.registry],
  });
  readonly uiDropped = new Counter({
    name: 'patchline_ui_dropped_total',
    help: 'Operator page updates not sent (a slow page, over its rate), or gallery items not kept (busy disk, disk low), by kind',
    labelNames: ['kind'],
    registers: [this.registry],
  });
  readonly up = new Gauge({
    name: 'patchline_pipeline_up',
    help: '1 while the pipeline runs, 0 after it stopped or failed',
    registers: [this.registry],
  });

  constructor() {
    // Node.js process metrics, including nodejs_eventloop_lag_seconds.
    collectDefaultMetrics({ register: this.registry, eventLoopMonitoringPrecision: 10 });
  }

  text(): Promise<string> {
    return this.registry.metrics();
  }
}
