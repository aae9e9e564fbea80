// An in-process MQTT broker (aedes) on localhost, so the demo runs with nothing installed. The
// plant's broker (mosquitto, HiveMQ, EMQX, Ignition's) takes its place in production.
import { createServer, type AddressInfo } from 'node:net';
import { Aedes } from 'aedes';

export interface LocalBroker {
  url: string;
  close(): Promise<void>;
}

export async function startLocalBroker(port = 0): Promise<LocalBroker> {
  const broker = await Aedes.createBroker();
  const server = createServer(broker.handle);
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, '127.0.0.1', () => resolve());
  });
  const a = server.address() as AddressInfo;
  return {
    url: `mqtt://127.0.0.1:${a.port}`,
    close: async () => {
      await new Promise<void>((r) => broker.close(() => r()));
      await new Promise<void>((r) => server.close(() => r()));
    },
  };
}
