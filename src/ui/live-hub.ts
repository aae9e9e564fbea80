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

/** Tiles a page gets when it connects (the live panel is not empty after the line stops). */
const RECENT_TILES = 6;

export class LiveHub {
  private readonly pages = new Set<Page>();
  /** Packed binary frames: the last tiles (oldest first) and the last of each other kind. */
  private readonly recentTiles: Uint8Array[] = [];
  private readonly latest = new Map<string, Uint8Array>();
  /** With no page connected, a tile a second is still kept for the next page. */
  private readonly idle = new RateLimiter(1);

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
    for (const frame of [...this.recentTiles, ...this.latest.values()]) this.send(page, 'hello', frame);
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

  /** Whether a tile should be encoded now: a page would take it, or (no page) one a second for later. */
  wantsTile(priority: boolean): boolean {
    if (this.pages.size === 0) return this.idle.take(priority);
    for (const p of this.pages) if (p.tiles.peek(priority) && p.ws.bufferedAmount <= this.opts.maxBufferedBytes) return true;
    return false;
  }

  sendTile(header: BinaryHeader, jpeg: Uint8Array, priority: boolean): void {
    const frame = packBinary(header, jpeg);
    this.recentTiles.push(frame);
    if (this.recentTiles.length > RECENT_TILES) this.recentTiles.shift();
    for (const p of this.pages) {
      if (p.tiles.take(priority)) this.send(p, 'tile', frame);
    }
  }

  sendBinary(kind: string, header: BinaryHeader, payload: Uint8Array): void {
    const frame = packBinary(header, payload);
    this.latest.set(kind, frame);
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
