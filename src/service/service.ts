// The running inspection service: model, broker connection, metrics endpoint and pipeline,
// started from one validated config, stopped cleanly (drain, flush, offline status).
import { basename } from 'node:path';
import { Subject, type Subscription } from 'rxjs';
import type { Config } from '../config/schema.js';
import { startMetricsServer } from '../metrics/http-server.js';
import { PipelineMetrics } from '../metrics/metrics.js';
import { InferenceRuntime } from '../model/inference-runtime.js';
import { providerEnvironment } from '../model/providers.js';
import { readBank } from '../patchcore/bank-file.js';
import { bankBackbone, PatchCore } from '../patchcore/patchcore.js';
import type { ScoredFrame } from '../pipeline/frame.js';
import { buildPipeline, type Pipeline } from '../pipeline/pipeline.js';
import { MqttPublisher } from '../publish/mqtt-publisher.js';
import { topics } from '../publish/payloads.js';
import { startLocalBroker, type LocalBroker } from './local-broker.js';

export interface ServiceStats {
  framesOut: number;
  anomalies: number;
  regions: number;
  startedAt: number;
  last?: ScoredFrame;
}

export class InspectionService {
  readonly metrics = new PipelineMetrics();
  readonly stats: ServiceStats = { framesOut: 0, anomalies: 0, regions: 0, startedAt: Date.now() };
  private runtime?: InferenceRuntime;
  private publisher?: MqttPublisher;
  private broker?: LocalBroker;
  private http?: Awaited<ReturnType<typeof startMetricsServer>>;
  private subscription?: Subscription;
  private pipeline?: Pipeline;
  private readonly stop$ = new Subject<void>();
  private failure?: Error;
  private finished?: Promise<void>;
  private running = false;
  mqttUrl?: string;
  metricsUrl?: string;

  constructor(
    readonly config: Config,
    private readonly log: (s: string) => void,
    private readonly onResult?: (f: ScoredFrame) => void,
  ) {}

  get web() {
    return this.pipeline?.web;
  }

  get queueDepth(): number {
    return this.pipeline?.queue.depth ?? 0;
  }

  get mqttConnected(): boolean {
    return this.publisher?.connected ?? false;
  }

  async start(): Promise<void> {
    const c = this.config;
    if (!c.model.bank) throw new Error("model.bank: no bank configured; fit one with 'patchline fit' and set model.bank");
    const bank = readBank(c.model.bank);
    const backbone = bankBackbone(bank.manifest, { backbone: c.model.backbone, modelDir: c.model.modelDir });
    const m = bank.manifest;
    const bankId = `${basename(c.model.bank)}@${m.dataSha256.slice(0, 12)}`;
    this.metrics.modelInfo.set({ backbone: m.backbone.name, layers: m.backbone.layers.map((l) => l.name).join(','), bank: bankId, bank_rows: String(m.coreset.rows), threshold: String(m.calibration.threshold) }, 1);
    if (c.metrics.enabled) {
      this.http = await startMetricsServer(this.metrics, { alive: () => this.alive(), ready: () => this.ready() }, c.metrics.host, c.metrics.port);
      this.metricsUrl = this.http.url;
    }
    Object.assign(process.env, providerEnvironment(c.model.executionProviders, c.model.tensorrt));
    this.runtime = new InferenceRuntime({ ...(c.model.threads ? { intraOpThreads: c.model.threads } : {}), executionProviders: c.model.executionProviders });
    const model = await PatchCore.load(this.runtime, bank, backbone, 'service');
    for (const f of model.embedder.fallbacks) this.log(`warning: execution provider '${f.provider}' is not available (${f.reason}); using the next one`);
    this.metrics.executionProvider.set({ requested: c.model.executionProviders.join(','), active: model.embedder.providers[0] ?? 'cpu' }, 1);
    // Warm-up: the first real frame should not pay for lazy initialisation.
    await model.predict({ data: new Float32Array(3 * m.input.width * m.input.height), dims: [1, 3, m.input.height, m.input.width] }, false);
    let url = c.mqtt.url;
    if (!url) {
      this.broker = await startLocalBroker();
      url = this.broker.url;
      this.log(`mqtt: no broker configured; started an in-process broker at ${url}`);
    }
    this.mqttUrl = url;
    this.publisher = new MqttPublisher(
      {
        url,
        clientId: c.mqtt.clientId ?? `patchline-${c.line}-${c.camera}`,
        username: c.mqtt.username,
        password: c.mqtt.password,
        tls: c.mqtt.tls,
        qos: c.mqtt.qos,
        protocolVersion: c.mqtt.protocolVersion ?? (this.broker ? 4 : 5),
        offlineQueue: c.mqtt.offlineQueue,
      },
      topics(c.mqtt.prefix, c.line, c.camera),
      { bank: bankId, backbone: m.backbone.name, version: process.env.npm_package_version ?? '0.1.0', heatmap: { width: m.input.width, height: m.input.height, format: c.mqtt.heatmap.format } },
      this.metrics,
      this.log,
    );
    this.pipeline = buildPipeline({ config: c, model, bankId, metrics: this.metrics, publisher: this.publisher, log: this.log }, this.stop$);
    this.running = true;
    this.metrics.up.set(1);
    this.finished = new Promise<void>((resolve) => {
      this.subscription = this.pipeline!.results.subscribe({
        next: (f) => {
          this.stats.framesOut++;
          if (f.isAnomaly) this.stats.anomalies++;
          this.stats.regions += f.regions.length;
          this.stats.last = f;
          this.onResult?.(f);
        },
        error: (e: Error) => {
          this.failure = e;
          this.running = false;
          this.metrics.up.set(0);
          this.log(`pipeline failed: ${e.message}`);
          resolve();
        },
        complete: () => {
          this.running = false;
          this.metrics.up.set(0);
          resolve();
        },
      });
    });
  }

  alive(): { ok: boolean; detail: string } {
    return this.failure ? { ok: false, detail: `pipeline failed: ${this.failure.message}` } : { ok: true, detail: this.running ? 'running' : 'stopped' };
  }

  ready(): { ok: boolean; detail: string } {
    if (!this.running) return { ok: false, detail: this.failure ? `failed: ${this.failure.message}` : 'not running' };
    if (!this.publisher?.connected) return { ok: false, detail: 'MQTT broker not connected' };
    return { ok: true, detail: 'model loaded, source running, broker connected' };
  }

  /** Resolves when the source ended and every frame was handled (or the pipeline failed). */
  done(): Promise<void> {
    return this.finished ?? Promise.resolve();
  }

  get error(): Error | undefined {
    return this.failure;
  }

  /**
   * Stops the source, lets queued frames finish (at most `drainTimeoutMs`), flushes MQTT,
   * publishes the offline status and releases everything.
   */
  async stop(): Promise<void> {
    this.stop$.next();
    const drained = await Promise.race([this.done().then(() => true), new Promise<boolean>((r) => setTimeout(() => r(false), this.config.pipeline.drainTimeoutMs))]);
    if (!drained) this.log(`shutdown: frames still in flight after ${this.config.pipeline.drainTimeoutMs} ms were abandoned`);
    this.subscription?.unsubscribe();
    if (this.publisher) {
      const flushed = await this.publisher.flush(this.config.pipeline.drainTimeoutMs);
      if (!flushed) this.log(`shutdown: ${this.publisher.queued} result(s) not acknowledged by the broker`);
      await this.publisher.close();
    }
    await this.runtime?.close();
    await this.http?.close();
    await this.broker?.close();
    this.metrics.up.set(0);
  }
}
