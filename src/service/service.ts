// The running inspection service: model, broker connection, metrics endpoint and pipeline,
// started from one validated config, stopped cleanly (drain, flush, offline status). A start
// that fails part-way closes what it opened, so the process exits by itself.
import { resolve } from 'node:path';
import { Subject, type Subscription } from 'rxjs';
import { isLineScan, type Config } from '../config/schema.js';
import type { ScoredFrame } from '../core/frame.js';
import { clip } from '../core/text.js';
import { PATCHLINE_VERSION } from '../core/version.js';
import { startMetricsServer } from '../metrics/http-server.js';
import { PipelineMetrics } from '../metrics/metrics.js';
import { InferenceRuntime } from '../model/inference-runtime.js';
import { bindingInfo, providerConfigs } from '../model/providers.js';
import { readBank, requireThreshold, type BankManifest, type StoredBank } from '../patchcore/bank-file.js';
import { bankBackbone, PatchCore } from '../patchcore/patchcore.js';
import { ModelSlot, type ActiveModel } from '../pipeline/active-model.js';
import { maxBatchFrames } from '../pipeline/batch-size.js';
import { buildPipeline, type Pipeline } from '../pipeline/pipeline.js';
import { PixelWorker } from '../pipeline/pixel-worker-client.js';
import { MqttPublisher } from '../publish/mqtt-publisher.js';
import { commandSchema } from '../publish/payload-schema.js';
import { resultPayload, topics } from '../publish/payloads.js';
import { closeSinks, fanOut, type ResultSink } from '../publish/result-sink.js';
import { SparkplugNode } from '../publish/sparkplug.js';
import { BankJobs } from './bank-job.js';
import { BankReloader, bankIdOf, type ReloadOutcome } from './bank-reloader.js';
import { RecipeControl } from './recipe-control.js';
import { Health } from './health.js';
import { startLocalBroker, type LocalBroker } from './local-broker.js';
import { checkBrokerUrl, checkSource, readTlsFiles, StartupError } from './preflight.js';
import { resultSinks } from './result-sinks.js';
import { RunStats } from './run-stats.js';
import { RuntimePair } from './runtime-pair.js';
import { OperatorPage } from '../ui/operator-page.js';
import { webCanvas } from '../linescan/camera-layout.js';
import { cameraLayout } from '../pipeline/camera-frames.js';

export class InspectionService {
  readonly metrics = new PipelineMetrics();
  readonly stats = new RunStats();
  readonly health: Health;
  mqttUrl?: string;
  metricsUrl?: string;
  /** The operator page (ui.enabled). */
  pageUrl?: string;
  private page?: OperatorPage;
  private slot?: ModelSlot;
  private broker?: LocalBroker;
  private http?: Awaited<ReturnType<typeof startMetricsServer>>;
  private publisher?: MqttPublisher;
  private sparkplug?: SparkplugNode;
  private sinks: ResultSink[] = [];
  private reloader?: BankReloader;
  /** Cameras with their own bank: a slot, reloader and worker pair per bank file. */
  private readonly cameraBanks: { slot: ModelSlot; reloader: BankReloader; runtimes: RuntimePair }[] = [];
  private readonly cameraSlots = new Map<string, ModelSlot>();
  private recipes?: RecipeControl;
  private jobs?: BankJobs;
  /** The file of the bank scoring now. */
  private bankFile = '';
  private pipeline?: Pipeline;
  private pixels?: PixelWorker;
  private subscription?: Subscription;
  private readonly stop$ = new Subject<void>();
  private finished?: Promise<void>;
  private running = false;
  private failure?: Error;
  private readonly runtimes = new RuntimePair(() => this.newRuntime());
  /** Session names of successive models stay apart within a worker. */
  private models = 0;

  constructor(
    readonly config: Config,
    private readonly log: (s: string) => void,
    private readonly onResult?: (f: ScoredFrame) => void,
  ) {
    this.health = new Health(config.pipeline.stallTimeoutMs, () => this.queueDepth);
  }

  get web() {
    return this.pipeline?.web;
  }

  get queueDepth(): number {
    return this.pipeline?.queue.depth ?? 0;
  }

  get mqttConnected(): boolean {
    return this.publisher?.connected ?? false;
  }

  /** Models loaded now: the active one and replaced ones still finishing a batch. */
  get liveModels(): number {
    return this.slot?.live ?? 0;
  }

  async start(): Promise<void> {
    try {
      await this.open();
    } catch (e) {
      await this.release();
      throw e;
    }
  }

  /** The bank to start with: model.bank, or the active version of model.recipe. */
  private startBank(): { path: string; key: string; bankId?: string } {
    const c = this.config;
    if (c.model.recipe) {
      try {
        return { ...this.recipes!.initialBank(), key: 'model.recipe' };
      } catch (e) {
        throw new StartupError(`model.recipe: ${c.model.recipe}: ${(e as Error).message}`);
      }
    }
    if (!c.model.bank)
      throw new StartupError(
        "model.bank: no bank configured; fit one with 'patchline fit' and set model.bank (or recipes and model.recipe)",
      );
    return { path: c.model.bank, key: 'model.bank' };
  }

  private async open(): Promise<void> {
    const c = this.config;
    if (Object.keys(c.recipes).length > 0) {
      this.jobs = new BankJobs((job) => this.page?.broadcast({ type: 'job', job }), this.log);
      this.recipes = new RecipeControl({
        config: c,
        reloader: () => this.reloader,
        jobs: this.jobs,
        runningBank: () => ({ id: this.slot?.current.bankId ?? '', file: this.bankFile }),
        log: this.log,
        onChanged: () => this.page?.broadcast({ type: 'recipes' }),
      });
    }
    const start = this.startBank();
    this.bankFile = start.path;
    const bank = await readBank(start.path, { maxBytes: c.model.maxBankMb * 2 ** 20 }).catch((e: Error) => {
      throw new StartupError(`${start.key}: ${e.message}`);
    });
    const m = bank.manifest;
    try {
      requireThreshold(m, start.path);
    } catch (e) {
      throw new StartupError(`${start.key}: ${(e as Error).message}`);
    }
    checkSource(c, m);
    checkBrokerUrl(c.mqtt.url);
    const tls = readTlsFiles(c.mqtt.tls);
    const bankId = start.bankId ?? bankIdOf(start.path, bank.checksum);
    this.setModelInfo(m, bankId, c.model.recipe);
    if (c.metrics.enabled) {
      this.http = await startMetricsServer(
        this.metrics,
        { alive: () => this.alive(), ready: () => this.ready() },
        c.metrics.host,
        c.metrics.port,
      );
      this.metricsUrl = this.http.url;
    }
    if (c.model.executionProviders.includes('tensorrt')) {
      const binding = bindingInfo();
      if (!binding.tensorrtOptionsForwarded) {
        this.log(
          `warning: onnxruntime-node ${binding.version} passes no TensorRT options (fp16, engine cache, workspace, optimisation profiles): TensorRT would run with its defaults (fp32, no engine cache); install the binding built by deploy/jetson/build-onnxruntime.sh`,
        );
      }
    }
    const first = await this.createModel(bank, bankId);
    for (const f of first.model.fallbacks)
      this.log(`warning: execution provider '${f.provider}' is not available (${f.reason}); using the next one`);
    // The providers the backbone (or the fused frame) actually runs on.
    this.metrics.executionProvider.set({ requested: c.model.executionProviders.join(','), active: first.model.providers.join(',') }, 1);
    this.slot = new ModelSlot(first, (e) => this.log(`releasing a previous bank: ${e.message}`));
    await this.openCameraBanks(start.path, m);
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
        tls,
        qos: c.mqtt.qos,
        protocolVersion: c.mqtt.protocolVersion ?? (this.broker ? 4 : 5),
        offlineQueue: c.mqtt.offlineQueue,
        flushTimeoutMs: c.pipeline.drainTimeoutMs,
        ...(c.cameras.length > 0 ? { cameraTopics: (cam: string) => topics(c.mqtt.prefix, c.line, cam) } : {}),
      },
      topics(c.mqtt.prefix, c.line, c.camera),
      {
        bank: bankId,
        ...(c.model.recipe ? { recipe: c.model.recipe } : {}),
        backbone: m.backbone.name,
        version: PATCHLINE_VERSION,
        heatmap: { width: m.input.width, height: m.input.height, format: c.mqtt.heatmap.format },
        source: this.health.source,
      },
      this.metrics,
      this.log,
      (command) => this.onCommand(command),
    );
    if (c.mqtt.sparkplug.enabled) {
      this.sparkplug = new SparkplugNode(
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
          recipe: c.model.recipe ?? '',
          onCommand: (command) => this.onCommand(command, 'sparkplug'),
        },
        this.log,
        this.metrics,
      );
    }
    if (c.ui.enabled) {
      const canvas = c.cameras.length > 0 ? webCanvas(cameraLayout(c)) : undefined;
      this.page = await OperatorPage.start({
        config: c,
        lineScan: c.cameras.length > 0 || isLineScan(c),
        tile: { width: m.input.width, height: m.input.height },
        webWidth: () => canvas?.widthPx ?? this.pipeline?.geometry?.webWidth ?? 0,
        ...(canvas ? { canvas } : {}),
        status: () => ({
          source: this.health.source,
          framesPerSecond: this.stats.framesPerSecond(),
          framesOut: this.stats.framesOut,
          anomalies: this.stats.anomalies,
          queueDepth: this.queueDepth,
          bank: this.slot!.current.bankId,
          ...(this.recipes?.recipe ? { recipe: this.recipes.recipe } : {}),
          threshold: this.slot!.current.model.threshold,
          providers: this.slot!.current.model.providers,
          mqttConnected: this.mqttConnected,
        }),
        metrics: this.metrics,
        recipes: this.recipes,
        log: this.log,
      });
      this.pageUrl = this.page.url;
    }
    this.sinks = resultSinks({
      config: c,
      metrics: this.metrics,
      publisher: this.publisher,
      stats: this.stats,
      sparkplug: this.sparkplug,
      operator: this.page?.sink,
      teach: this.jobs,
      onResult: this.onResult,
      log: this.log,
    });
    this.pixels = new PixelWorker();
    this.pipeline = buildPipeline(
      {
        config: c,
        slot: this.slot,
        cameraSlots: this.cameraSlots,
        metrics: this.metrics,
        pixels: this.pixels,
        log: this.log,
        hooks: {
          onFrameIn: () => this.health.frameIn(),
          onSourceState: (up, detail) => {
            this.health.source = { up, detail };
            this.publisher?.setStatus({ source: this.health.source });
          },
          onBacklog: (n) => {
            this.health.backlog = n;
          },
        },
      },
      this.stop$,
    );
    this.reloader = new BankReloader({
      slot: this.slot,
      configuredBank: start.path,
      maxBankBytes: c.model.maxBankMb * 2 ** 20,
      createModel: (b, id) => this.createModel(b, id),
      onSwapped: (manifest, request) => {
        this.bankFile = request.path;
        this.setModelInfo(manifest, request.bankId, request.recipe);
        this.publisher?.setStatus({ bank: request.bankId, ...(request.recipe ? { recipe: request.recipe } : {}) });
        this.sparkplug?.setRecipe(request.recipe ?? '');
      },
      metrics: this.metrics,
      log: this.log,
    });
    // A recipe's versions are followed through its store's active pointer, a bank file by its mtime.
    if (this.recipes && c.model.recipe) this.recipes.watch();
    else this.reloader.watch(start.path);
    this.running = true;
    this.metrics.up.set(1);
    const { line, camera } = c;
    this.finished = new Promise<void>((resolve) => {
      this.subscription = this.pipeline!.scored.pipe(
        fanOut(this.sinks, {
          payload: (f, now) => resultPayload(f, line, f.camera ?? camera, now),
          onPayload: (ms) => this.metrics.stageSeconds.observe({ stage: 'publish' }, ms / 1000),
        }),
      ).subscribe({
        next: () => this.health.result(),
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

  /**
   * Cameras with their own bank (cameras[].bank): each bank file gets its model, in a worker
   * pair of its own (a pair holds one model and its reload), and is reloaded when replaced.
   * A camera whose bank is model.bank's file shares the main model.
   */
  private async openCameraBanks(mainPath: string, main: BankManifest): Promise<void> {
    const c = this.config;
    const byFile = new Map<string, { ids: string[]; index: number }>();
    c.cameras.forEach((cam, i) => {
      if (cam.bank === undefined || resolve(cam.bank) === resolve(mainPath)) return;
      const entry = byFile.get(resolve(cam.bank));
      if (entry) entry.ids.push(cam.id);
      else byFile.set(resolve(cam.bank), { ids: [cam.id], index: i });
    });
    for (const [path, { ids, index }] of byFile) {
      const key = `cameras[${index}].bank`;
      const bank = await readBank(path, { maxBytes: c.model.maxBankMb * 2 ** 20 }).catch((e: Error) => {
        throw new StartupError(`${key}: ${e.message}`);
      });
      try {
        requireThreshold(bank.manifest, path);
      } catch (e) {
        throw new StartupError(`${key}: ${(e as Error).message}`);
      }
      const [w, h] = [bank.manifest.input.width, bank.manifest.input.height];
      if (w !== main.input.width || h !== main.input.height)
        throw new StartupError(
          `${key}: ${path}: its tiles are ${w}x${h}, model.bank's are ${main.input.width}x${main.input.height}; every camera is tiled at one size`,
        );
      const runtimes = new RuntimePair(() => this.newRuntime());
      const slot = new ModelSlot(await this.createModel(bank, bankIdOf(path, bank.checksum), runtimes), (e) =>
        this.log(`camera ${ids.join(', ')}: releasing a previous bank: ${e.message}`),
      );
      const log = (s: string) => this.log(`camera ${ids.join(', ')}: ${s}`);
      const reloader = new BankReloader({
        slot,
        configuredBank: path,
        maxBankBytes: c.model.maxBankMb * 2 ** 20,
        createModel: (b, id) => this.createModel(b, id, runtimes),
        onSwapped: () => {},
        metrics: this.metrics,
        log,
      });
      reloader.watch(path);
      this.cameraBanks.push({ slot, reloader, runtimes });
      for (const id of ids) this.cameraSlots.set(id, slot);
      log(`own bank ${slot.current.bankId}, threshold ${bank.manifest.calibration.threshold.toFixed(3)}`);
    }
  }

  /**
   * A warmed-up model for a bank, in the inference worker the running model does not use: a
   * reload loads beside it without making its batches wait; disposing it releases its sessions.
   */
  private async createModel(bank: StoredBank, bankId: string, runtimes = this.runtimes): Promise<ActiveModel> {
    const c = this.config;
    const m = bank.manifest;
    const backbone = bankBackbone(m, { backbone: c.model.backbone, modelDir: c.model.modelDir });
    const { runtime, release } = await runtimes.next();
    let model: PatchCore | undefined;
    try {
      model = await PatchCore.load(runtime, bank, backbone, {
        prefix: `model${this.models++}`,
        fused: c.model.fused,
        maps: 'graph',
        maxBatch: maxBatchFrames(c, m.input),
      });
      // Warm-up: the first real frame should not pay for lazy initialisation.
      await model.predict({ data: new Float32Array(3 * m.input.width * m.input.height), dims: [1, 3, m.input.height, m.input.width] });
      const loaded = model;
      return { model: loaded, bankId, dispose: () => loaded.release().finally(release) };
    } catch (e) {
      await model?.release().catch(() => undefined);
      release();
      throw e;
    }
  }

  private newRuntime(): InferenceRuntime {
    return new InferenceRuntime({
      ...(this.config.model.threads ? { intraOpThreads: this.config.model.threads } : {}),
      executionProviders: providerConfigs(this.config.model.executionProviders, this.config.model.tensorrt),
    });
  }

  private setModelInfo(m: BankManifest, bankId: string, recipe = ''): void {
    this.metrics.modelInfo.reset();
    this.metrics.modelInfo.set(
      {
        recipe,
        backbone: m.backbone.name,
        layers: m.backbone.layers.map((l) => l.name).join(','),
        bank: bankId,
        bank_rows: String(m.coreset.rows),
        threshold: String(m.calibration.threshold),
      },
      1,
    );
  }

  private onCommand(raw: unknown, via: 'mqtt' | 'sparkplug' = 'mqtt'): void {
    const parsed = commandSchema.safeParse(raw);
    if (!parsed.success) {
      const issue = parsed.error.issues[0];
      const detail = `${issue?.path.join('.') || 'command'}: ${issue?.message ?? 'invalid'}`;
      this.log(
        `${via}: ignored command ${clip(JSON.stringify(raw) ?? String(raw))}: ${detail} (known: {"command":"reload-bank","bank":"<optional file in the bank folder>"}, {"command":"select-recipe","recipe":"<name>"})`,
      );
      this.commandOutcome('invalid', false, detail);
      return;
    }
    const command = parsed.data;
    if (command.command === 'reload-bank') {
      void this.reloader
        ?.reloadCommanded(command.bank, via === 'mqtt' ? 'MQTT command' : 'Sparkplug command')
        .then((o) => this.commandOutcome('reload-bank', o.ok, o.ok ? `running ${o.bankId}` : o.error));
      return;
    }
    if (!this.recipes) {
      this.log(`${via}: select-recipe ${clip(command.recipe)} refused: no recipes are configured`);
      this.commandOutcome('select-recipe', false, 'no recipes are configured (config: recipes)');
      return;
    }
    this.recipes.select(command.recipe, via).then(
      (id) => this.commandOutcome('select-recipe', true, `running ${id}`),
      (e: Error) => {
        this.log(`${via}: select-recipe refused: ${e.message}`);
        this.commandOutcome('select-recipe', false, e.message);
      },
    );
  }

  /** The last command's outcome, on the status topic: a refused command says why there. */
  private commandOutcome(name: string, ok: boolean, detail: string): void {
    // JSON carries any text safely; only its length is bounded.
    const short = detail.length > 300 ? `${detail.slice(0, 300)}…` : detail;
    this.publisher?.setStatus({ command: { name, ok, detail: short, at: new Date().toISOString() } });
  }

  /** Loads a bank beside the running one and swaps it in between two batches (see BankReloader). */
  reloadBank(path: string, why: string): Promise<ReloadOutcome> {
    return this.running && this.reloader
      ? this.reloader.reload({ path, why })
      : Promise.resolve({ ok: false, error: 'the service is not running' });
  }

  /** Switches to another recipe's active bank between two batches (as the page and select-recipe do). */
  selectRecipe(recipe: string, actor: string): Promise<string> {
    if (!this.recipes) return Promise.reject(new Error('no recipes are configured'));
    return this.recipes.select(recipe, actor);
  }

  alive(): { ok: boolean; detail: string } {
    return this.health.alive(this.running, this.failure);
  }

  ready(): { ok: boolean; detail: string } {
    return this.health.ready(this.running, this.failure, this.mqttConnected);
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
    this.stop$.next();
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<boolean>((r) => (timer = setTimeout(() => r(false), this.config.pipeline.drainTimeoutMs)));
    const drained = await Promise.race([this.done().then(() => true), timeout]);
    clearTimeout(timer);
    if (!drained) this.log(`shutdown: frames still in flight after ${this.config.pipeline.drainTimeoutMs} ms were abandoned`);
    this.subscription?.unsubscribe();
    await this.release();
  }

  /** Closes whatever is open, in order; also after a start that failed part-way. */
  private async release(): Promise<void> {
    this.recipes?.close();
    await this.reloader?.stop();
    for (const b of this.cameraBanks) await b.reloader.stop();
    const sinks =
      this.sinks.length > 0 ? this.sinks : [this.publisher, this.sparkplug].filter((s): s is NonNullable<typeof s> => s !== undefined);
    await closeSinks(sinks, this.log);
    await this.page?.close();
    await this.slot?.close();
    for (const b of this.cameraBanks) await b.slot.close();
    await this.runtimes.close();
    for (const b of this.cameraBanks.splice(0)) await b.runtimes.close();
    await this.pixels?.close();
    await this.http?.close();
    await this.broker?.close();
    this.running = false;
    this.metrics.up.set(0);
  }
}
