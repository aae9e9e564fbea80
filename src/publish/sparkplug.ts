// Sparkplug B for SCADA (Ignition and others), beside the plain JSON topics: the box is an edge
// node (NBIRTH / NDEATH with bdSeq, Rebirth command), the camera a device (DBIRTH declaring its
// metrics, DDATA per result). Payloads are encoded with Eclipse Tahu's sparkplug-payload.
// Sparkplug's NDEATH must be the will of the connection that sent NBIRTH, so this uses its own
// MQTT connection.
import mqtt, { type MqttClient } from 'mqtt';
import sparkplug from 'sparkplug-payload';
import type { ScoredFrame } from '../core/frame.js';
import type { PipelineMetrics } from '../metrics/metrics.js';
import type { ResultSink, ScoredResult } from './result-sink.js';

const spb = sparkplug.get('spBv1.0')!;
type Metric = Parameters<typeof spb.encodePayload>[0]['metrics'] extends (infer M)[] | null | undefined ? M : never;

export interface SparkplugOptions {
  url: string;
  clientId: string;
  groupId: string;
  edgeNodeId: string;
  deviceId: string;
  username?: string;
  password?: string;
  version: string;
  /** Results per second, published with every DDATA. */
  framesPerSecond?: () => number;
  /** The recipe running, a device metric SCADA can also write (DCMD) to switch products. */
  recipe?: string;
  /** A DCMD writing `recipe`: as the JSON command {"command":"select-recipe","recipe":...}. */
  onCommand?: (command: unknown) => void;
}

export function sparkplugTopics(o: Pick<SparkplugOptions, 'groupId' | 'edgeNodeId' | 'deviceId'>) {
  const node = (type: string) => `spBv1.0/${o.groupId}/${type}/${o.edgeNodeId}`;
  return {
    nbirth: node('NBIRTH'),
    ndeath: node('NDEATH'),
    ncmd: node('NCMD'),
    dcmd: `${node('DCMD')}/${o.deviceId}`,
    dbirth: `${node('DBIRTH')}/${o.deviceId}`,
    ddata: `${node('DDATA')}/${o.deviceId}`,
    ddeath: `${node('DDEATH')}/${o.deviceId}`,
  };
}

export class SparkplugNode implements ResultSink {
  readonly name = 'Sparkplug';
  private readonly client: MqttClient;
  private readonly topics: ReturnType<typeof sparkplugTopics>;
  /** Birth/death sequence: one per session, in NBIRTH and in the NDEATH will. */
  private bdSeq = 0;
  /** Message sequence 0-255 of the current session. */
  private seq = 0;
  private last?: ScoredFrame;
  private framesPerSecond = 0;
  private recipe: string;
  private closed = false;

  constructor(
    private readonly opts: SparkplugOptions,
    private readonly log: (s: string) => void,
    private readonly metrics?: PipelineMetrics,
  ) {
    this.topics = sparkplugTopics(opts);
    this.recipe = opts.recipe ?? '';
    this.client = mqtt.connect(opts.url, {
      clientId: opts.clientId,
      protocolVersion: 4,
      clean: true,
      reconnectPeriod: 1000,
      ...(opts.username ? { username: opts.username } : {}),
      ...(opts.password ? { password: opts.password } : {}),
      will: this.will(),
    });
    this.client.on('connect', () => {
      this.client.subscribe([this.topics.ncmd, this.topics.dcmd], { qos: 0 });
      this.birth();
    });
    // The next session gets the next bdSeq; its will must carry it.
    this.client.on('close', () => {
      if (this.closed) return;
      this.bdSeq = (this.bdSeq + 1) % 256;
      this.client.options.will = this.will();
    });
    this.client.on('message', (topic, payload) => {
      if (topic === this.topics.dcmd) {
        this.deviceCommand(payload);
        return;
      }
      if (topic !== this.topics.ncmd) return;
      try {
        const p = spb.decodePayload(payload);
        if (p.metrics?.some((m) => m.name === 'Node Control/Rebirth' && m.value === true)) {
          this.log('sparkplug: rebirth requested');
          this.birth();
        }
      } catch (e) {
        this.log(`sparkplug: undecodable NCMD: ${(e as Error).message}`);
      }
    });
    this.client.on('error', (e) => this.log(`sparkplug: ${e.message}`));
  }

  /** DCMD: a write of the `recipe` metric switches products; other metrics are not writable. */
  private deviceCommand(payload: Buffer): void {
    let metrics;
    try {
      metrics = spb.decodePayload(payload).metrics ?? [];
    } catch (e) {
      this.log(`sparkplug: undecodable DCMD: ${(e as Error).message}`);
      return;
    }
    for (const m of metrics) {
      if (m.name === 'recipe' && typeof m.value === 'string') this.opts.onCommand?.({ command: 'select-recipe', recipe: m.value });
      else this.log(`sparkplug: DCMD metric '${String(m.name)}' is not writable (writable: recipe)`);
    }
  }

  /** The recipe now running (after a switch): in the next DDATA. */
  setRecipe(recipe: string): void {
    this.recipe = recipe;
  }

  private will() {
    return {
      topic: this.topics.ndeath,
      payload: Buffer.from(spb.encodePayload({ timestamp: Date.now(), metrics: [{ name: 'bdSeq', type: 'UInt64', value: this.bdSeq }] })),
      qos: 1 as const,
      retain: false,
    };
  }

  private nextSeq(): number {
    const s = this.seq;
    this.seq = (this.seq + 1) % 256;
    return s;
  }

  private deviceMetrics(f: ScoredFrame | undefined): Metric[] {
    return [
      { name: 'score', type: 'Float', value: f?.score ?? 0 },
      { name: 'normalized_score', type: 'Float', value: Number.isFinite(f?.normalizedScore) ? f!.normalizedScore : 0 },
      { name: 'is_anomaly', type: 'Boolean', value: f?.isAnomaly ?? false },
      { name: 'threshold', type: 'Float', value: Number.isFinite(f?.threshold) ? f!.threshold : 0 },
      { name: 'frames_per_second', type: 'Float', value: this.framesPerSecond },
      { name: 'defects', type: 'Int32', value: f?.regions.length ?? 0 },
      { name: 'seq', type: 'UInt64', value: f?.seq ?? 0 },
      { name: 'bank', type: 'String', value: f?.bankId ?? '' },
      { name: 'recipe', type: 'String', value: this.recipe },
    ];
  }

  private send(topic: string, metrics: Metric[]): void {
    const payload = spb.encodePayload({ timestamp: Date.now(), seq: this.nextSeq(), metrics });
    this.client.publish(topic, Buffer.from(payload), { qos: 0 }, (e) => {
      if (e) this.metrics?.mqttErrors.inc();
      else this.metrics?.mqttPublished.inc({ kind: 'sparkplug' });
    });
  }

  /** NBIRTH (seq 0, bdSeq, Rebirth control) then DBIRTH declaring every device metric. */
  private birth(): void {
    this.seq = 0;
    this.send(this.topics.nbirth, [
      { name: 'bdSeq', type: 'UInt64', value: this.bdSeq },
      { name: 'Node Control/Rebirth', type: 'Boolean', value: false },
      { name: 'Properties/patchline version', type: 'String', value: this.opts.version },
    ]);
    this.send(this.topics.dbirth, this.deviceMetrics(this.last));
  }

  handle({ frame }: ScoredResult): void {
    this.publishResult(frame, this.opts.framesPerSecond?.() ?? 0);
  }

  publishResult(f: ScoredFrame, framesPerSecond: number): void {
    this.last = f;
    this.framesPerSecond = framesPerSecond;
    if (this.client.connected) this.send(this.topics.ddata, this.deviceMetrics(f));
  }

  /** A clean stop: DDEATH and NDEATH (with this session's bdSeq), then disconnect. */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    if (this.client.connected) {
      await this.client.publishAsync(
        this.topics.ddeath,
        Buffer.from(spb.encodePayload({ timestamp: Date.now(), seq: this.nextSeq(), metrics: [] })),
        { qos: 0 },
      );
      await this.client.publishAsync(
        this.topics.ndeath,
        Buffer.from(spb.encodePayload({ timestamp: Date.now(), metrics: [{ name: 'bdSeq', type: 'UInt64', value: this.bdSeq }] })),
        { qos: 1 },
      );
    }
    await this.client.endAsync();
  }
}
