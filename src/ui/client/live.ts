// The live panel: the latest tiles with their heat maps and scores, and the status chips.
import type { StatusMessage, TileHeader } from '../protocol.js';
import { byId, clear, h, webPosition } from './dom.js';

const TILES = 6;

export class LiveView {
  private readonly tiles: HTMLElement;
  private readonly urls: string[] = [];
  private status?: StatusMessage;
  received = 0;

  constructor() {
    this.tiles = byId('live');
  }

  tile(header: TileHeader, jpeg: Uint8Array): void {
    this.received++;
    const url = URL.createObjectURL(new Blob([jpeg.slice()], { type: 'image/jpeg' }));
    this.urls.unshift(url);
    const p = header.position;
    const s = this.status;
    const where =
      p.line !== undefined
        ? webPosition(p.line, p.x ?? 0, s?.mmPerLine ?? 0, s?.mmPerPixel ?? 0)
        : p.file
          ? p.file.split('/').pop()!
          : `frame ${p.index ?? header.seq}`;
    const card = h(
      'figure',
      { class: `tile${header.isAnomaly ? ' anomalous' : ''}`, 'data-seq': String(header.seq) },
      h('img', { src: url, alt: `tile ${header.seq}`, width: String(header.width), height: String(header.height) }),
      h(
        'figcaption',
        {},
        h('b', {}, `${(100 * header.normalizedScore).toFixed(0)} %`),
        ` score ${header.score.toFixed(2)} · #${header.seq}`,
        h('br'),
        where,
      ),
    );
    this.tiles.prepend(card);
    while (this.tiles.children.length > TILES) this.tiles.lastElementChild!.remove();
    while (this.urls.length > TILES) URL.revokeObjectURL(this.urls.pop()!);
  }

  showStatus(s: StatusMessage): void {
    this.status = s;
    const el = byId('status');
    clear(el);
    const chip = (label: string, value: string, state: 'ok' | 'bad' | '' = '') =>
      h('span', { class: `chip ${state}` }, h('small', {}, label), value);
    el.append(
      chip('source', s.source.up ? 'up' : `down: ${s.source.detail}`, s.source.up ? 'ok' : 'bad'),
      chip('frames/s', s.framesPerSecond.toFixed(1)),
      chip('frames', String(s.framesOut)),
      chip('anomalous', String(s.anomalies), s.anomalies > 0 ? 'bad' : ''),
      chip('queue', String(s.queueDepth)),
      chip('MQTT', s.mqttConnected ? 'connected' : 'down', s.mqttConnected ? 'ok' : 'bad'),
      chip('bank', `${s.bank} · threshold ${s.threshold.toFixed(2)}`),
      chip('runs on', s.providers.join(', ')),
    );
    if (s.dropped > 0) el.append(chip('updates dropped', String(s.dropped)));
  }

  get latest(): StatusMessage | undefined {
    return this.status;
  }
}
