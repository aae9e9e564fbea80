// The pages connected to /live. Each page gets status, timeline and gallery updates, and live
// tiles at most `liveFps` per second (anomalous ones first). A page that reads slowly is never
// waited for: while its socket has more than `maxBufferedBytes` unsent, updates to it are
// dropped and counted.
import type { WebSocket } from 'ws';
import { RateLimiter } from '../core/rate-limiter.js';
import { packBinary, type BinaryHeader, type LiveMessage } from './protocol.js';

export interface Page {
  ws: WebSocket;
  tiles: RateLimiter;
  dropped: number;
}

export class LiveHub {
  private readonly pages = new Set<Page>();

  constructor(
    private readonly opts: { liveFps: number; maxBufferedBytes: number },
    private readonly onDrop: (kind: string) => void,
  ) {}

  get size(): number {
    return this.pages.size;
  }

  attach(ws: WebSocket, hello: LiveMessage[]): Page {
    const page: Page = { ws, tiles: new RateLimiter(this.opts.liveFps), dropped: 0 };
    this.pages.add(page);
    ws.on('close', () => this.pages.delete(page));
    ws.on('error', () => this.pages.delete(page));
    for (const m of hello) this.send(page, 'hello', JSON.stringify(m));
    return page;
  }

  private send(page: Page, kind: string, data: string | Uint8Array): boolean {
    if (page.ws.readyState !== page.ws.OPEN || page.ws.bufferedAmount > this.opts.maxBufferedBytes) {
      page.dropped++;
      this.onDrop(kind);
      return false;
    }
    page.ws.send(data);
    return true;
  }

  /** Whether any page would take a tile now (so the JPEG is only encoded when someone sees it). */
  wantsTile(priority: boolean): boolean {
    for (const p of this.pages) if (p.tiles.peek(priority) && p.ws.bufferedAmount <= this.opts.maxBufferedBytes) return true;
    return false;
  }

  sendTile(header: BinaryHeader, jpeg: Uint8Array, priority: boolean): void {
    const frame = packBinary(header, jpeg);
    for (const p of this.pages) {
      if (p.tiles.take(priority)) this.send(p, 'tile', frame);
    }
  }

  sendBinary(kind: string, header: BinaryHeader, payload: Uint8Array): void {
    const frame = packBinary(header, payload);
    for (const p of this.pages) this.send(p, kind, frame);
  }

  /** `message` for one page (its own status), or the same for all. */
  broadcast(message: LiveMessage | ((page: Page) => LiveMessage)): void {
    const shared = typeof message === 'function' ? undefined : JSON.stringify(message);
    for (const p of this.pages)
      this.send(
        p,
        typeof message === 'function' ? 'status' : message.type,
        shared ?? JSON.stringify((message as (page: Page) => LiveMessage)(p)),
      );
  }

  close(): void {
    for (const p of this.pages) p.ws.terminate();
    this.pages.clear();
  }
}
