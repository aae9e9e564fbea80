// A real Debian mosquitto on a loopback port, started and stopped by the tests.
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { createServer, connect, type AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

export async function freePort(): Promise<number> {
  const s = createServer();
  await new Promise<void>((r) => s.listen(0, '127.0.0.1', () => r()));
  const port = (s.address() as AddressInfo).port;
  await new Promise((r) => s.close(r));
  return port;
}

async function waitForPort(port: number, timeoutMs: number): Promise<void> {
  const until = Date.now() + timeoutMs;
  for (;;) {
    const ok = await new Promise<boolean>((r) => {
      const c = connect(port, '127.0.0.1', () => {
        c.end();
        r(true);
      });
      c.on('error', () => r(false));
    });
    if (ok) return;
    if (Date.now() > until) throw new Error(`mosquitto did not listen on ${port} within ${timeoutMs} ms`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

export class Mosquitto {
  private proc?: ChildProcess;
  readonly url: string;
  private readonly conf: string;

  /**
   * `persistent`: sessions and queued QoS 1 messages survive a restart (saved on stop).
   * `extra`: more configuration (a bridge, say), appended.
   */
  constructor(
    readonly port: number,
    persistent = false,
    extra = '',
  ) {
    this.url = `mqtt://127.0.0.1:${port}`;
    const dir = mkdtempSync(join(tmpdir(), 'patchline-mosquitto-'));
    this.conf = join(dir, 'mosquitto.conf');
    const persistence = persistent ? `persistence true\npersistence_location ${dir}/\nautosave_interval 0\n` : 'persistence false\n';
    writeFileSync(this.conf, `listener ${port} 127.0.0.1\nallow_anonymous true\n${persistence}log_dest none\n${extra}`);
  }

  static async start(persistent = false): Promise<Mosquitto> {
    const m = new Mosquitto(await freePort(), persistent);
    await m.start();
    return m;
  }

  async start(): Promise<void> {
    this.proc = spawn('/usr/sbin/mosquitto', ['-c', this.conf], { stdio: 'ignore' });
    await waitForPort(this.port, 5000);
  }

  async stop(): Promise<void> {
    const p = this.proc;
    if (!p || p.exitCode !== null) return;
    await new Promise<void>((r) => {
      p.once('exit', () => r());
      p.kill('SIGTERM');
    });
  }
}
