// The running inspection service: model, broker connection, metrics endpoint and pipeline,
// started from one validated config, stopped cleanly (drain, flush, offline status).
import { createWriteStream, unwatchFile, watchFile, type WriteStream } from 'node:fs';
import { basename } from 'node:path';
import { Subject, type Subscription } from 'rxjs';
import type { Config } from '../config/schema.js';
import { startMetricsServer } from '../metrics/http-server.js';
import { PipelineMetrics } from '../metrics/metrics.js';
import { InferenceRuntime } from '../model/inference-runtime.js';
import { providerEnvironment } from '../model/providers.js';
import { readBank, type Bank, type BankManifest } from '../patchcore/bank-file.js';
import { bankBackbone, PatchCore } from '../patchcore/patchcore.js';
import { ModelSlot } from '../pipeline/active-model.js';
import type { ScoredFrame } from '../pipeline/frame.js';
import { buildPipeline, type Pipeline } from '../pipeline/pipeline.js';
import { MqttPublisher } from '../publish/mqtt-publisher.js';
import { resultPayload, topics } from '../publish/payloads.js';
import { SparkplugNode } from '../publish/sparkplug.js';
import { startLocalBroker, type LocalBroker } from './local-broker.js';

function bankIdOf(path: string, sha: string): string {
  return `${basename(path)}@${sha.slice(0, 12)}`;
}

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
  private readonly releaseTimers = new Set<NodeJS.Timeout>();
  private slot?: ModelSlot;
  private unwatch?: () => void;
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
    const bankId = bankIdOf(c.model.bank, m.dataSha256);
    this.setModelInfo(bank.manifest, bankId);
    if (c.metrics.enabled) {
      this.http = await startMetricsServer(this.metrics, { alive: () => this.alive(), ready: () => this.ready() }, c.metrics.host, c.metrics.port);
      this.metricsUrl = this.http.url;
    }
    Object.assign(process.env, providerEnvironment(c.model.executionProviders, c.model.tensorrt));
    this.runtime = new InferenceRuntime({ ...(c.model.threads ? { intraOpThreads: c.model.threads } : {}), executionProviders: c.model.executionProviders });
    const model = await this.loadModel(bank, backbone);
    for (const f of model.embedder.fallbacks) this.log(`warning: execution provider '${f.provider}' is not available (${f.reason}); using the next one`);
    this.metrics.executionProvider.set({ requested: c.model.executionProviders.join(','), active: model.embedder.providers[0] ?? 'cpu' }, 1);
    this.slot = new ModelSlot({ model, bankId });
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
      (command) => this.onCommand(command),
    );
    if (c.mqtt.sparkplug.enabled) {
      this.sparkplug = new SparkplugNode(
        {
          url,
          clientId: `${c.mqtt.clientId ?? `patchline-${c.line}-${c.camera}`}-spb`,
          groupId: c.mqtt.sparkplug.groupId,
          edgeNodeId: c.mqtt.sparkplug.edgeNodeId ?? c.line,
          deviceId: c.mqtt.sparkplug.deviceId ?? c.camera,
          username: c.mqtt.username,
          password: c.mqtt.password,
          version: process.env.npm_package_version ?? '0.1.0',
        },
        this.log,
        this.metrics,
      );
    }
    this.pipeline = buildPipeline({ config: c, slot: this.slot, metrics: this.metrics, publisher: this.publisher, log: this.log }, this.stop$);
    if (c.output.resultsFile) {
      const file = c.output.resultsFile;
      this.resultsFile = createWriteStream(file, { flags: 'a' });
      this.resultsFile.on('error', (e) => this.log(`output.resultsFile ${file}: ${e.message}; results still go to MQTT`));
    }
    // A new bank written over the configured file (patchline fit writes atomically) is picked up.
    const bankPath = c.model.bank;
    watchFile(bankPath, { interval: 1000 }, (now, before) => {
      if (now.mtimeMs !== before.mtimeMs && now.size > 0) void this.reloadBank(bankPath, 'file changed');
    });
    this.unwatch = () => unwatchFile(bankPath);
    this.running = true;
    this.metrics.up.set(1);
    this.finished = new Promise<void>((resolve) => {
      this.subscription = this.pipeline!.results.subscribe({
        next: (f) => {
          this.stats.framesOut++;
          if (f.isAnomaly) this.stats.anomalies++;
          this.stats.regions += f.regions.length;
          this.stats.last = f;
          this.sparkplug?.publishResult(f, this.framesPerSecond());
          this.resultsFile?.write(`${JSON.stringify(resultPayload(f, c.line, c.camera))}\n`);
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

  private modelCounter = 0;
  private resultsFile?: WriteStream;
  private sparkplug?: SparkplugNode;
  private rateWindow: number[] = [];

  /** Results per second over the last 5 s. */
  private framesPerSecond(): number {
    const now = Date.now();
    this.rateWindow.push(now);
    while (this.rateWindow.length > 0 && this.rateWindow[0]! < now - 5000) this.rateWindow.shift();
    return this.rateWindow.length / 5;
  }

  private async loadModel(bank: Bank, backbone: ReturnType<typeof bankBackbone>): Promise<PatchCore> {
    const m = bank.manifest;
    const model = await PatchCore.load(this.runtime!, bank, backbone, { prefix: `model${this.modelCounter++}`, fused: this.config.model.fused });
    // Warm-up: the first real frame should not pay for lazy initialisation.
    await model.predict({ data: new Float32Array(3 * m.input.width * m.input.height), dims: [1, 3, m.input.height, m.input.width] });
    return model;
  }

  private setModelInfo(m: BankManifest, bankId: string): void {
    this.metrics.modelInfo.reset();
    this.metrics.modelInfo.set({ backbone: m.backbone.name, layers: m.backbone.layers.map((l) => l.name).join(','), bank: bankId, bank_rows: String(m.coreset.rows), threshold: String(m.calibration.threshold) }, 1);
  }

  private onCommand(command: { command?: string; bank?: string }): void {
    if (command.command === 'reload-bank') void this.reloadBank(command.bank ?? this.config.model.bank!, 'MQTT command');
    else this.log(`mqtt: unknown command ${JSON.stringify(command)} (known: {"command":"reload-bank","bank":"<optional path>"})`);
  }

  private reloading: Promise<void> = Promise.resolve();

  /**
   * Loads a bank beside the running one and swaps it in between two batches: no frame is
   * dropped, each result names the bank that scored it. A bad bank is refused and the running
   * one stays.
   */
  reloadBank(path: string, why: string): Promise<void> {
    this.reloading = this.reloading.then(async () => {
      if (!this.running || !this.slot) return;
      try {
        const bank = readBank(path);
        const m = bank.manifest;
        const old = this.slot.current;
        const oldInput = old.model.manifest.input;
        if (m.input.width !== oldInput.width || m.input.height !== oldInput.height) {
          throw new Error(`its input is ${m.input.width}x${m.input.height}, the running pipeline's is ${oldInput.width}x${oldInput.height}; restart the service to change the input size`);
        }
        const backbone = bankBackbone(m, { backbone: this.config.model.backbone, modelDir: this.config.model.modelDir });
        const bankId = bankIdOf(path, m.dataSha256);
        const model = await this.loadModel(bank, backbone);
        this.slot.swap({ model, bankId });
        this.setModelInfo(m, bankId);
        this.publisher?.setStatus({ bank: bankId });
        this.metrics.bankReloads.inc({ result: 'ok' });
        this.log(`bank reloaded (${why}): ${bankId}, threshold ${m.calibration.threshold.toFixed(3)}`);
        // Batches that started with the old model finish first: release it a little later.
        const timer = setTimeout(() => {
          this.releaseTimers.delete(timer);
          old.model.release().catch((e: Error) => this.log(`releasing the previous bank: ${e.message}`));
        }, 5000);
        this.releaseTimers.add(timer);
      } catch (e) {
        this.metrics.bankReloads.inc({ result: 'failed' });
        this.log(`bank reload (${why}) refused, keeping ${this.slot?.current.bankId}: ${(e as Error).message}`);
      }
    });
    return this.reloading;
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
    this.unwatch?.();
    for (const t of this.releaseTimers) clearTimeout(t);
    this.releaseTimers.clear();
    this.stop$.next();
    const drained = await Promise.race([this.done().then(() => true), new Promise<boolean>((r) => setTimeout(() => r(false), this.config.pipeline.drainTimeoutMs))]);
    if (!drained) this.log(`shutdown: frames still in flight after ${this.config.pipeline.drainTimeoutMs} ms were abandoned`);
    this.subscription?.unsubscribe();
    if (this.publisher) {
      const flushed = await this.publisher.flush(this.config.pipeline.drainTimeoutMs);
      if (!flushed) this.log(`shutdown: ${this.publisher.queued} result(s) not acknowledged by the broker`);
      await this.publisher.close();
    }
    await this.sparkplug?.close();
    const results = this.resultsFile;
    if (results) await new Promise<void>((r) => results.end(r));
    await this.runtime?.close();
    await this.http?.close();
    await this.broker?.close();
    this.metrics.up.set(0);
  }
}
