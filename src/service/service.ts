// The running inspection service: model, broker connection, metrics endpoint and pipeline,
// started from one validated config, stopped cleanly (drain, flush, offline status).
import { Subject, type Subscription } from 'rxjs';
import type { Config } from '../config/schema.js';
import type { ScoredFrame } from '../core/frame.js';
import { PATCHLINE_VERSION } from '../core/version.js';
import { startMetricsServer } from '../metrics/http-server.js';
import { PipelineMetrics } from '../metrics/metrics.js';
import type { ResolvedBackbone } from '../model/backbone.js';
import { InferenceRuntime } from '../model/inference-runtime.js';
import { providerEnvironment } from '../model/providers.js';
import { readBank, type Bank, type BankManifest } from '../patchcore/bank-file.js';
import { bankBackbone, PatchCore } from '../patchcore/patchcore.js';
import { ModelSlot } from '../pipeline/active-model.js';
import { buildPipeline, type Pipeline } from '../pipeline/pipeline.js';
import { MqttPublisher } from '../publish/mqtt-publisher.js';
import { resultPayload, topics } from '../publish/payloads.js';
import { closeSinks, fanOut, type ResultSink } from '../publish/result-sink.js';
import { SparkplugNode } from '../publish/sparkplug.js';
import { BankReloader, bankIdOf } from './bank-reloader.js';
import { startLocalBroker, type LocalBroker } from './local-broker.js';
import { resultSinks } from './result-sinks.js';
import { RunStats } from './run-stats.js';

export class InspectionService {
  readonly metrics = new PipelineMetrics();
  readonly stats = new RunStats();
  mqttUrl?: string;
  metricsUrl?: string;
  private runtime?: InferenceRuntime;
  private slot?: ModelSlot;
  private broker?: LocalBroker;
  private http?: Awaited<ReturnType<typeof startMetricsServer>>;
  private publisher?: MqttPublisher;
  private sinks: ResultSink[] = [];
  private reloader?: BankReloader;
  private pipeline?: Pipeline;
  private subscription?: Subscription;
  private readonly stop$ = new Subject<void>();
  private finished?: Promise<void>;
  private running = false;
  private failure?: Error;
  /** Session names of successive models stay apart in the shared runtime. */
  private modelCounter = 0;

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
    const bank = await readBank(c.model.bank);
    const backbone = bankBackbone(bank.manifest, { backbone: c.model.backbone, modelDir: c.model.modelDir });
    const m = bank.manifest;
    const bankId = bankIdOf(c.model.bank, m.dataSha256);
    this.setModelInfo(bank.manifest, bankId);
    if (c.metrics.enabled) {
      this.http = await startMetricsServer(
        this.metrics,
        { alive: () => this.alive(), ready: () => this.ready() },
        c.metrics.host,
        c.metrics.port,
      );
      this.metricsUrl = this.http.url;
    }
    Object.assign(process.env, providerEnvironment(c.model.executionProviders, c.model.tensorrt));
    this.runtime = new InferenceRuntime({
      ...(c.model.threads ? { intraOpThreads: c.model.threads } : {}),
      executionProviders: c.model.executionProviders,
    });
    const model = await this.loadModel(bank, backbone);
    for (const f of model.embedder.fallbacks)
      this.log(`warning: execution provider '${f.provider}' is not available (${f.reason}); using the next one`);
    this.metrics.executionProvider.set(
      { requested: c.model.executionProviders.join(','), active: model.embedder.providers[0] ?? 'cpu' },
      1,
    );
    this.slot = new ModelSlot({ model, bankId });
    let url = c.mqtt.url;
    if (!url) {
      this.broker = await startLocalBroker();
      url = this.broker.url;
      this.log(`mqtt: no broker configured; started an in-process broker at ${url}`);
    }
    this.mqttUrl = url;
    const clientId = c.mqtt.clientId ?? `patchline-${c.line}-${c.camera}`;
    this.publisher = new MqttPublisher(
      {
        url,
        clientId,
        username: c.mqtt.username,
        password: c.mqtt.password,
        tls: c.mqtt.tls,
        qos: c.mqtt.qos,
        protocolVersion: c.mqtt.protocolVersion ?? (this.broker ? 4 : 5),
        offlineQueue: c.mqtt.offlineQueue,
        flushTimeoutMs: c.pipeline.drainTimeoutMs,
      },
      topics(c.mqtt.prefix, c.line, c.camera),
      {
        bank: bankId,
        backbone: m.backbone.name,
        version: PATCHLINE_VERSION,
        heatmap: { width: m.input.width, height: m.input.height, format: c.mqtt.heatmap.format },
      },
      this.metrics,
      this.log,
      (command) => this.onCommand(command),
    );
    const sparkplug = c.mqtt.sparkplug.enabled
      ? new SparkplugNode(
          {
            url,
            clientId: `${clientId}-spb`,
            groupId: c.mqtt.sparkplug.groupId,
            edgeNodeId: c.mqtt.sparkplug.edgeNodeId ?? c.line,
            deviceId: c.mqtt.sparkplug.deviceId ?? c.camera,
            username: c.mqtt.username,
            password: c.mqtt.password,
            version: PATCHLINE_VERSION,
            framesPerSecond: () => this.stats.framesPerSecond(),
          },
          this.log,
          this.metrics,
        )
      : undefined;
    this.sinks = resultSinks({
      config: c,
      metrics: this.metrics,
      publisher: this.publisher,
      stats: this.stats,
      sparkplug,
      onResult: this.onResult,
      log: this.log,
    });
    this.pipeline = buildPipeline({ config: c, slot: this.slot, metrics: this.metrics, log: this.log }, this.stop$);
    this.reloader = new BankReloader({
      slot: this.slot,
      backbone: { backbone: c.model.backbone, modelDir: c.model.modelDir },
      load: (b, bb) => this.loadModel(b, bb),
      onSwapped: (manifest, id) => {
        this.setModelInfo(manifest, id);
        this.publisher?.setStatus({ bank: id });
      },
      metrics: this.metrics,
      log: this.log,
    });
    this.reloader.watch(c.model.bank);
    this.running = true;
    this.metrics.up.set(1);
    const line = c.line;
    const camera = c.camera;
    this.finished = new Promise<void>((resolve) => {
      this.subscription = this.pipeline!.scored.pipe(
        fanOut(this.sinks, {
          payload: (f, now) => resultPayload(f, line, camera, now),
          onPayload: (ms) => this.metrics.stageSeconds.observe({ stage: 'publish' }, ms / 1000),
        }),
      ).subscribe({
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

  private async loadModel(bank: Bank, backbone: ResolvedBackbone): Promise<PatchCore> {
    const m = bank.manifest;
    const model = await PatchCore.load(this.runtime!, bank, backbone, {
      prefix: `model${this.modelCounter++}`,
      fused: this.config.model.fused,
    });
    // Warm-up: the first real frame should not pay for lazy initialisation.
    await model.predict({ data: new Float32Array(3 * m.input.width * m.input.height), dims: [1, 3, m.input.height, m.input.width] });
    return model;
  }

  private setModelInfo(m: BankManifest, bankId: string): void {
    this.metrics.modelInfo.reset();
    this.metrics.modelInfo.set(
      {
        backbone: m.backbone.name,
        layers: m.backbone.layers.map((l) => l.name).join(','),
        bank: bankId,
        bank_rows: String(m.coreset.rows),
        threshold: String(m.calibration.threshold),
      },
      1,
    );
  }

  private onCommand(command: { command?: string; bank?: string }): void {
    if (command.command === 'reload-bank') void this.reloadBank(command.bank ?? this.config.model.bank!, 'MQTT command');
    else this.log(`mqtt: unknown command ${JSON.stringify(command)} (known: {"command":"reload-bank","bank":"<optional path>"})`);
  }

  /** Loads a bank beside the running one and swaps it in between two batches (see BankReloader). */
  reloadBank(path: string, why: string): Promise<void> {
    return this.running && this.reloader ? this.reloader.reload(path, why) : Promise.resolve();
  }

  alive(): { ok: boolean; detail: string } {
    return this.failure
      ? { ok: false, detail: `pipeline failed: ${this.failure.message}` }
      : { ok: true, detail: this.running ? 'running' : 'stopped' };
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
   * Stops the source, lets queued frames finish (at most `drainTimeoutMs`), flushes the sinks
   * (MQTT: queued results, then the offline status) and releases everything.
   */
  async stop(): Promise<void> {
    this.reloader?.stop();
    this.stop$.next();
    const drained = await Promise.race([
      this.done().then(() => true),
      new Promise<boolean>((r) => setTimeout(() => r(false), this.config.pipeline.drainTimeoutMs)),
    ]);
    if (!drained) this.log(`shutdown: frames still in flight after ${this.config.pipeline.drainTimeoutMs} ms were abandoned`);
    this.subscription?.unsubscribe();
    await closeSinks(this.sinks, this.log);
    await this.runtime?.close();
    await this.http?.close();
    await this.broker?.close();
    this.metrics.up.set(0);
  }
}
