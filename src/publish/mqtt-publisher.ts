// Results to the plant's MQTT broker (mqtt.js 5). Results go through a bounded FIFO that is
// only fed to the client while connected, so a broker outage keeps them in order, counted, and
// drops the oldest only beyond the configured size. QoS 1 messages in flight when the
// connection breaks are resent by mqtt.js after reconnecting (at-least-once). The retained
// status topic says online/offline; the broker publishes "offline" as last will.
import mqtt, { type IClientOptions, type MqttClient } from 'mqtt';
import { clip } from '../core/text.js';
import type { PipelineMetrics } from '../metrics/metrics.js';
import { MAX_COMMAND_BYTES, type StatusPayload } from './payload-schema.js';
import type { Topics } from './payloads.js';
import type { ResultSink, ScoredResult } from './result-sink.js';

export interface PublisherOptions {
  url: string;
  clientId: string;
  username?: string;
  password?: string;
  /** PEM contents (read and checked before connecting). */
  tls?: { ca?: Buffer; cert?: Buffer; key?: Buffer; rejectUnauthorized: boolean };
  qos: 0 | 1 | 2;
  protocolVersion: 4 | 5;
  offlineQueue: number;
  /** On close: how long queued results may take to be acknowledged. */
  flushTimeoutMs: number;
  /** Messages handed to mqtt.js at once while connected. */
  window?: number;
  /** Several cameras over one web: each camera's results and heat maps on its own topics. */
  cameraTopics?: (camera: string) => Topics;
}

interface Pending {
  topic: string;
  payload: Buffer;
}

export class MqttPublisher implements ResultSink {
  readonly name = 'MQTT results';
  readonly client: MqttClient;
  private readonly queue: Pending[] = [];
  private inFlight = 0;
  private closed = false;
  private idleWaiters: (() => void)[] = [];
  /** Results the broker acknowledged (QoS > 0) or that were sent (QoS 0), and dropped by the offline queue. */
  private acknowledged = 0;
  private dropped = 0;
  /** When the current online state began. */
  private onlineSince = new Date().toISOString();

  constructor(
    private readonly opts: PublisherOptions,
    private readonly topics: Topics,
    private status: Omit<StatusPayload, 'state' | 'since'>,
    private readonly metrics: PipelineMetrics,
    private readonly log: (s: string) => void,
    /** Parsed JSON messages on the command topic, not yet validated. */
    private readonly onCommand?: (command: unknown) => void,
  ) {
    const options: IClientOptions = {
      clientId: opts.clientId,
      protocolVersion: opts.protocolVersion,
      reconnectPeriod: 1000,
      connectTimeout: 10_000,
      clean: true,
      ...(opts.username ? { username: opts.username } : {}),
      ...(opts.password ? { password: opts.password } : {}),
      ...(opts.tls ? { ca: opts.tls.ca, cert: opts.tls.cert, key: opts.tls.key, rejectUnauthorized: opts.tls.rejectUnauthorized } : {}),
      will: this.will(),
    };
    this.client = mqtt.connect(opts.url, options);
    this.client.on('connect', () => {
      this.onlineSince = new Date().toISOString();
      this.metrics.mqttConnected.set(1);
      this.log(`mqtt: connected to ${opts.url}`);
      this.client.publish(topics.status, JSON.stringify(this.statusPayload('online', this.onlineSince)), { qos: 1, retain: true });
      if (this.onCommand) this.client.subscribe(topics.command, { qos: 1 });
      this.pump();
    });
    this.client.on('message', (topic, payload) => {
      if (topic !== topics.command || !this.onCommand) return;
      if (payload.length > MAX_COMMAND_BYTES) {
        this.log(`mqtt: ignored a ${payload.length}-byte command (at most ${MAX_COMMAND_BYTES} bytes)`);
        return;
      }
      let command: unknown;
      try {
        command = JSON.parse(payload.toString());
      } catch {
        this.log(`mqtt: ignored a command that is not JSON: ${clip(payload.toString(), 80)}`);
        return;
      }
      this.onCommand(command);
    });
    this.client.on('close', () => this.metrics.mqttConnected.set(0));
    this.client.on('offline', () =>
      this.log(`mqtt: broker ${opts.url} unreachable; results are queued (${this.queue.length} now, at most ${opts.offlineQueue})`),
    );
    this.client.on('error', (e) => this.log(`mqtt: ${e.message}`));
  }

  private statusPayload(state: StatusPayload['state'], since: string): StatusPayload {
    return { state, since, ...this.status };
  }

  /** The broker publishes it at an unknown later time, so it carries no `since`. */
  private will(): NonNullable<IClientOptions['will']> {
    const payload: StatusPayload = { state: 'offline', ...this.status };
    return { topic: this.topics.status, payload: Buffer.from(JSON.stringify(payload)), qos: 1, retain: true };
  }

  /** Updates the retained online status (e.g. a reloaded bank) and the will of the next connection. */
  setStatus(update: Partial<Omit<StatusPayload, 'state' | 'since'>>): void {
    this.status = { ...this.status, ...update };
    this.client.options.will = this.will();
    if (this.client.connected)
      this.client.publish(this.topics.status, JSON.stringify(this.statusPayload('online', this.onlineSince)), { qos: 1, retain: true });
  }

  get connected(): boolean {
    return this.client.connected;
  }

  get queued(): number {
    return this.queue.length + this.inFlight;
  }

  handle(result: ScoredResult): void {
    this.publishResult(result.payload(), this.topicsOf(result.frame.camera).result);
  }

  private topicsOf(camera: string | undefined): Topics {
    return camera !== undefined && this.opts.cameraTopics ? this.opts.cameraTopics(camera) : this.topics;
  }

  /** Queues a result; never blocks the pipeline. */
  publishResult(payload: unknown, topic = this.topics.result): void {
    if (this.queue.length >= this.opts.offlineQueue) {
      this.queue.shift();
      this.metrics.mqttDropped.inc();
      this.dropped++;
    }
    this.queue.push({ topic, payload: Buffer.from(JSON.stringify(payload)) });
    this.metrics.mqttQueued.set(this.queued);
    this.pump();
  }

  /** Heat maps are best effort (QoS 0), sent only while connected. */
  publishHeatmap(payload: Buffer, properties: Record<string, string>, camera?: string): boolean {
    if (!this.client.connected) return false;
    const options = this.opts.protocolVersion === 5 ? { qos: 0 as const, properties: { userProperties: properties } } : { qos: 0 as const };
    this.client.publish(this.topicsOf(camera).heatmap, payload, options, (e) => {
      if (e) this.metrics.mqttErrors.inc();
      else this.metrics.mqttPublished.inc({ kind: 'heatmap' });
    });
    return true;
  }

  private pump(): void {
    const window = this.opts.window ?? 64;
    while (this.client.connected && this.inFlight < window && this.queue.length > 0) {
      const m = this.queue.shift()!;
      this.inFlight++;
      this.client.publish(m.topic, m.payload, { qos: this.opts.qos }, (e) => {
        this.inFlight--;
        if (e) {
          // Put it back at the front: order is kept, the message is retried after reconnecting.
          this.metrics.mqttErrors.inc();
          this.queue.unshift(m);
        } else {
          this.metrics.mqttPublished.inc({ kind: 'result' });
          this.acknowledged++;
        }
        this.metrics.mqttQueued.set(this.queued);
        if (this.queued === 0) for (const w of this.idleWaiters.splice(0)) w();
        this.pump();
      });
    }
  }

  /** Resolves when every queued result is acknowledged, or after `timeoutMs`. */
  async flush(timeoutMs: number): Promise<boolean> {
    if (this.queued === 0) return true;
    return new Promise<boolean>((resolve) => {
      const t = setTimeout(() => resolve(false), timeoutMs);
      this.idleWaiters.push(() => {
        clearTimeout(t);
        resolve(true);
      });
    });
  }

  /**
   * Waits for queued results (at most `flushTimeoutMs`), publishes the offline status (a clean
   * stop sends no last will) and disconnects.
   */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    if (!(await this.flush(this.opts.flushTimeoutMs))) this.log(`shutdown: ${this.queued} result(s) not acknowledged by the broker`);
    if (this.client.connected) {
      await new Promise<void>((r) =>
        this.client.publish(
          this.topics.status,
          JSON.stringify(this.statusPayload('offline', new Date().toISOString())),
          { qos: 1, retain: true },
          () => r(),
        ),
      );
    }
    await this.client.endAsync(!this.client.connected);
    this.metrics.mqttConnected.set(0);
    this.log(
      `mqtt: results acknowledged by the broker: ${this.acknowledged}, dropped by the offline queue: ${this.dropped}, unacknowledged at exit: ${this.queued}`,
    );
  }
}
