// Sparkplug B against mosquitto: births declare the metrics, DDATA follows per result, sequence
// numbers run 0-255 per session, Rebirth re-announces, NDEATH carries the NBIRTH's bdSeq (on a
// clean stop and as the broker-sent will).
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import mqtt from 'mqtt';
import sparkplug from 'sparkplug-payload';
import { defaultConfig } from '../src/config/load.js';
import { SparkplugNode, sparkplugTopics } from '../src/publish/sparkplug.js';
import { InspectionService } from '../src/service/service.js';
import type { ScoredFrame } from '../src/core/frame.js';
import { useTestCache } from './helpers/cache.js';
import { Mosquitto } from './helpers/mosquitto.js';
import { SHARED_DIR } from './helpers/shared.js';
import { fitWebBank } from './helpers/web-bank.js';

useTestCache();
const spb = sparkplug.get('spBv1.0')!;
const models = join(SHARED_DIR, 'models');

interface Msg {
  type: string;
  seq?: number;
  metrics: Record<string, unknown>;
}

async function listen(url: string): Promise<{ msgs: Msg[]; client: mqtt.MqttClient }> {
  const msgs: Msg[] = [];
  const client = await mqtt.connectAsync(url);
  client.on('message', (topic, payload) => {
    const p = spb.decodePayload(payload);
    msgs.push({
      type: topic.split('/')[2]!,
      seq: p.seq === undefined || p.seq === null ? undefined : Number(p.seq),
      metrics: Object.fromEntries(
        (p.metrics ?? []).map((m) => [
          m.name!,
          typeof m.value === 'object' && m.value !== null && 'low' in m.value ? Number(m.value) : m.value,
        ]),
      ),
    });
  });
  await client.subscribeAsync('spBv1.0/#');
  return { msgs, client };
}

const wait = (ms: number) => new Promise((r) => setTimeout(r, ms));

describe('Sparkplug B', () => {
  let broker: Mosquitto;
  before(async () => {
    broker = await Mosquitto.start();
  });
  after(() => broker.stop());

  test('births, data, sequence numbers 0-255, rebirth, NDEATH with bdSeq on stop and as will', async (t) => {
    const { msgs, client } = await listen(broker.url);
    const opts = { url: broker.url, clientId: 'spb-test', groupId: 'plant', edgeNodeId: 'line7', deviceId: 'cam2', version: 'test' };
    const topics = sparkplugTopics(opts);
    const node = new SparkplugNode(opts, () => {});
    // A failed assertion must not leave the connections holding the test process open.
    t.after(async () => {
      await node.close().catch(() => undefined);
      client.end(true);
    });
    await wait(500);
    const frame = (seq: number) =>
      ({ seq, score: 3.5, normalizedScore: 0.2, isAnomaly: false, threshold: 10, regions: [], bankId: 'b@1' }) as unknown as ScoredFrame;
    for (let i = 0; i < 300; i++) node.publishResult(frame(i), 12.5);
    await wait(800);
    assert.equal(msgs[0]!.type, 'NBIRTH');
    assert.equal(msgs[0]!.seq, 0);
    assert.equal(msgs[0]!.metrics.bdSeq, 0);
    assert.equal(msgs[0]!.metrics['Node Control/Rebirth'], false);
    assert.equal(msgs[1]!.type, 'DBIRTH');
    assert.deepEqual(Object.keys(msgs[1]!.metrics).sort(), [
      'bank',
      'defects',
      'frames_per_second',
      'is_anomaly',
      'normalized_score',
      'recipe',
      'score',
      'seq',
      'threshold',
    ]);
    const data = msgs.filter((m) => m.type === 'DDATA');
    assert.equal(data.length, 300);
    assert.deepEqual(
      msgs.slice(0, 302).map((m) => m.seq),
      Array.from({ length: 302 }, (_, i) => i % 256),
    );
    assert.equal(data[0]!.metrics.score, 3.5);
    assert.equal(data.at(-1)!.metrics.seq, 299);

    // Rebirth command from SCADA.
    await client.publishAsync(
      topics.ncmd,
      Buffer.from(spb.encodePayload({ timestamp: Date.now(), metrics: [{ name: 'Node Control/Rebirth', type: 'Boolean', value: true }] })),
    );
    await wait(500);
    const rebirth = msgs.slice(302).filter((m) => m.type !== 'NCMD');
    assert.deepEqual(
      rebirth.slice(0, 2).map((m) => [m.type, m.seq]),
      [
        ['NBIRTH', 0],
        ['DBIRTH', 1],
      ],
    );
    assert.equal(rebirth[1]!.metrics.seq, 299, 'DBIRTH carries the current values');

    // The connection drops: the broker publishes the will, NDEATH with this session's bdSeq.
    (node as unknown as { client: mqtt.MqttClient }).client.stream.destroy();
    await wait(2500);
    const death = msgs.find((m) => m.type === 'NDEATH');
    assert.equal(death?.metrics.bdSeq, 0);
    const reborn = msgs.filter((m) => m.type === 'NBIRTH').at(-1)!;
    assert.equal(reborn.metrics.bdSeq, 1, 'the next session announces the next bdSeq');
    // Clean stop: DDEATH and NDEATH with the current bdSeq.
    await node.close();
    await wait(300);
    const deaths = msgs.filter((m) => m.type === 'NDEATH');
    assert.equal(deaths.at(-1)!.metrics.bdSeq, 1);
    assert.ok(msgs.some((m) => m.type === 'DDEATH'));
    await client.endAsync();
  });

  test(
    'the service publishes Sparkplug B when enabled in the config',
    { skip: !existsSync(join(models, 'mobilenetv2-12-int8.onnx')) },
    async () => {
      const { msgs, client } = await listen(broker.url);
      const bank = await fitWebBank(models);
      const base = defaultConfig();
      const service = new InspectionService(
        {
          ...base,
          source: { type: 'synthetic-web', width: 448, linesPerChunk: 64, linesPerSecond: 0, seed: 1, defectEvery: 700, lines: 800 },
          model: { ...base.model, bank, modelDir: models },
          mqtt: { ...base.mqtt, url: broker.url, sparkplug: { enabled: true, groupId: 'plant' } },
          metrics: { ...base.metrics, enabled: false },
          ui: { ...base.ui, port: 0 },
        },
        () => {},
      );
      await service.start();
      await service.done();
      await service.stop();
      await wait(300);
      await client.endAsync();
      assert.deepEqual(
        msgs.slice(0, 2).map((m) => m.type),
        ['NBIRTH', 'DBIRTH'],
      );
      assert.equal(msgs.filter((m) => m.type === 'DDATA').length, service.stats.framesOut);
      assert.equal(msgs.at(-1)!.type, 'NDEATH');
    },
  );
});
