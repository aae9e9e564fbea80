// /metrics (Prometheus text), /healthz (alive: the pipeline has not failed) and /readyz (ready:
// model loaded, source running, broker connected).
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { PipelineMetrics } from './metrics.js';

export interface Health {
  alive(): { ok: boolean; detail: string };
  ready(): { ok: boolean; detail: string };
}

export async function startMetricsServer(
  metrics: PipelineMetrics,
  health: Health,
  host: string,
  port: number,
): Promise<{ server: Server; url: string; close(): Promise<void> }> {
  const server = createServer((req, res) => {
    const path = (req.url ?? '/').split('?')[0];
    if (path === '/metrics') {
      metrics.text().then(
        (body) => {
          res.writeHead(200, { 'content-type': metrics.registry.contentType });
          res.end(body);
        },
        (e) => {
          res.writeHead(500);
          res.end(String(e));
        },
      );
      return;
    }
    if (path === '/healthz' || path === '/readyz') {
      const h = path === '/healthz' ? health.alive() : health.ready();
      res.writeHead(h.ok ? 200 : 503, { 'content-type': 'text/plain' });
      res.end(`${h.ok ? 'ok' : 'not ok'}: ${h.detail}\n`);
      return;
    }
    res.writeHead(404, { 'content-type': 'text/plain' });
    res.end('patchline: /metrics, /healthz, /readyz\n');
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', (e: NodeJS.ErrnoException) =>
      reject(new Error(`metrics server: cannot listen on ${host}:${port}: ${e.code ?? e.message}`)),
    );
    server.listen(port, host, () => resolve());
  });
  const a = server.address() as AddressInfo;
  return {
    server,
    url: `http://${a.family === 'IPv6' ? `[${a.address}]` : a.address}:${a.port}`,
    close: () => new Promise((r) => server.close(() => r())),
  };
}
