// The line-scan web strip: the last lines of the web, scaled down, newest at the top, with every
// reported defect boxed at its web position and a ruler in lines (and metres when the scale is
// known), so the operator can find the defect on the roll.
import type { StatusMessage, StripHeader } from '../protocol.js';
import { byId, webPosition } from './dom.js';

const RULER = 44;

export class StripView {
  private readonly canvas: HTMLCanvasElement;
  received = 0;

  constructor() {
    this.canvas = byId<HTMLCanvasElement>('strip');
    byId('strip-section').hidden = false;
  }

  async show(header: StripHeader, jpeg: Uint8Array, status: StatusMessage | undefined): Promise<void> {
    this.received++;
    const bitmap = await createImageBitmap(new Blob([jpeg.slice()], { type: 'image/jpeg' }));
    const width = RULER + bitmap.width;
    if (this.canvas.width !== width || this.canvas.height !== bitmap.height) {
      this.canvas.width = width;
      this.canvas.height = bitmap.height;
    }
    const g = this.canvas.getContext('2d')!;
    g.fillStyle = '#111';
    g.fillRect(0, 0, width, bitmap.height);
    // Newest line at the top: draw the strip flipped vertically.
    g.save();
    g.translate(RULER, bitmap.height);
    g.scale(1, -1);
    g.drawImage(bitmap, 0, 0);
    g.restore();
    const s = header.scale;
    const y = (line: number) => bitmap.height - (line - header.firstLine) / s;
    g.strokeStyle = '#ff3b30';
    g.lineWidth = 2;
    g.font = '11px sans-serif';
    g.fillStyle = '#ff3b30';
    for (const r of header.regions) {
      const top = y(r.box.y + r.box.height);
      const h = r.box.height / s;
      g.strokeRect(RULER + r.box.x / s - 2, top - 2, r.box.width / s + 4, h + 4);
    }
    // Ruler: a mark every 256 lines.
    g.fillStyle = '#ccc';
    g.strokeStyle = '#555';
    g.lineWidth = 1;
    const mmPerLine = status?.mmPerLine ?? 0;
    for (let line = Math.ceil(header.firstLine / 256) * 256; line < header.firstLine + header.lines; line += 256) {
      const yy = y(line);
      g.beginPath();
      g.moveTo(RULER - 6, yy);
      g.lineTo(width, yy);
      g.stroke();
      g.fillText(mmPerLine > 0 ? `${((line * mmPerLine) / 1000).toFixed(3)} m` : String(line), 2, yy + 4);
    }
    const last = header.regions.at(-1);
    byId('strip-info').textContent =
      `lines ${header.firstLine}–${header.firstLine + header.lines} (newest at the top), ${header.regions.length} defect(s) in view` +
      (last ? `; last at ${webPosition(last.box.y, last.box.x, mmPerLine, status?.mmPerPixel ?? 0)}` : '');
    this.canvas.dataset.firstLine = String(header.firstLine);
    this.canvas.dataset.regions = JSON.stringify(header.regions.map((r) => [r.box.y, r.box.x, r.box.width, r.box.height]));
    bitmap.close();
  }
}
