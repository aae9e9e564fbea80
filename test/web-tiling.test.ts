// Line-scan tiling and map merging: tiles cover the web exactly, a defect across tile seams is
// reported once at its web position, a clean web reports nothing.
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { SyntheticWeb } from '../src/linescan/synthetic-web.js';
import type { LineChunk } from '../src/core/frame.js';
import { WebMapMerger } from '../src/linescan/web-map.js';
import { tileColumns, WebTiler, type TileGeometry } from '../src/linescan/web-tiler.js';
import { firstValueFrom, from, toArray } from 'rxjs';
import { defaultConfig } from '../src/config/load.js';
import { maxBatchFrames, queueCapacity, UNKNOWN_ROW_TILES } from '../src/pipeline/batch-size.js';
import { tileWeb } from '../src/pipeline/tile-web.js';

const g: TileGeometry = { webWidth: 300, tileWidth: 128, tileHeight: 128, overlap: 32 };

function chunks(web: SyntheticWeb, lines: number, per: number): LineChunk[] {
  const out: LineChunk[] = [];
  for (let first = 0, seq = 0; first < lines; first += per, seq++) {
    const n = Math.min(per, lines - first);
    out.push({ seq, timestamp: seq, firstLine: first, lines: n, width: web.options.width, data: web.render(first, n) });
  }
  return out;
}

/** An ideal detector: 10 inside the defect ellipse (with a 2 px halo of 5), 0 elsewhere. */
function oracle(line: number, x: number, d: { line: number; x: number; halfLength: number; halfWidth: number }[]): number {
  for (const e of d) {
    const r = ((line - e.line) / e.halfLength) ** 2 + ((x - e.x) / e.halfWidth) ** 2;
    if (r <= 1) return 10;
    if (r <= 1.6) return 5;
  }
  return 0;
}

function run(defects: { kind: 'scratch' | 'spot'; line: number; x: number; halfLength: number; halfWidth: number }[], chunkLines: number) {
  const web = new SyntheticWeb({ width: g.webWidth, seed: 3, defectEvery: 0, defects });
  const tiler = new WebTiler(g);
  const merger = new WebMapMerger(g, 7, 4, { mmPerLine: 0.1, mmPerPixel: 0.05 });
  const regions = [];
  const tiles = [];
  for (const c of chunks(web, 700, chunkLines)) {
    for (const t of tiler.push(c)) {
      tiles.push(t);
      const map = new Float32Array(g.tileWidth * g.tileHeight);
      for (let y = 0; y < g.tileHeight; y++)
        for (let x = 0; x < g.tileWidth; x++) map[y * g.tileWidth + x] = oracle(t.line + y, t.x + x, defects);
      regions.push(...merger.add(t, map));
    }
  }
  regions.push(...merger.flush());
  return { regions, tiles, web };
}

describe('line-scan tiling', () => {
  test('columns step by tile - overlap and end flush with the right edge', () => {
    assert.deepEqual(tileColumns(g), [0, 96, 172]);
    assert.deepEqual(tileColumns({ ...g, webWidth: 128 }), [0]);
  });

  test('tiles are exact copies of the web at their position, whatever the chunk size', () => {
    for (const per of [1, 37, 500]) {
      const { tiles, web } = run([], per);
      assert.deepEqual(
        tiles.slice(0, 4).map((t) => [t.row, t.col, t.line, t.x]),
        [
          [0, 0, 0, 0],
          [0, 1, 0, 96],
          [0, 2, 0, 172],
          [1, 0, 96, 0],
        ],
      );
      const t = tiles[4]!;
      const rows = web.render(t.line, g.tileHeight);
      for (let y = 0; y < g.tileHeight; y += 17) {
        assert.deepEqual(
          Array.from(t.image.data.subarray(y * 128 * 3, (y + 1) * 128 * 3)),
          Array.from(rows.subarray((y * 300 + t.x) * 3, (y * 300 + t.x + 128) * 3)),
        );
      }
    }
  });

  test('a defect across a tile boundary (along and across) is reported once, at its web position', () => {
    // Tile rows start at lines 0, 96, 192...: a scratch centred on line 100 spans 85..115, crossing
    // the overlap of rows 0 and 1; x = 110 lies in the overlap of columns 0 and 1 (96..127).
    const defects = [
      { kind: 'scratch' as const, line: 100, x: 110, halfLength: 15, halfWidth: 3 },
      { kind: 'spot' as const, line: 400, x: 250, halfLength: 6, halfWidth: 6 },
    ];
    const { regions } = run(defects, 50);
    assert.equal(regions.length, 2, JSON.stringify(regions));
    const [a, b] = regions;
    // |dx| <= 3 and |dy| <= 15 around (110, 100)
    assert.deepEqual(a!.box, { x: 107, y: 85, width: 7, height: 31 });
    assert.equal(a!.peak.score, 10);
    assert.ok(Math.abs(a!.mm!.along - 8.5) < 1e-9 && Math.abs(a!.mm!.across - 5.35) < 1e-9);
    assert.deepEqual(b!.box, { x: 244, y: 394, width: 13, height: 13 });
  });

  test('a defect-free web reports nothing; merged maps have no seams', () => {
    assert.deepEqual(run([], 64).regions, []);
  });

  test("the last tile of each row is marked (batchSize 'row' cuts there), and a row's tiles bound the batch", async () => {
    const web = new SyntheticWeb({ width: g.webWidth, seed: 3, defectEvery: 0 });
    const frames = await firstValueFrom(
      from(chunks(web, 500, 70)).pipe(tileWeb({ ...g }, { onBadChunk: () => assert.fail('bad chunk'), onLines: () => {} }), toArray()),
    );
    const across = tileColumns(g).length;
    assert.equal(frames.length % across, 0);
    assert.deepEqual(
      frames.map((f) => f.endsRow === true),
      frames.map((f) => f.position.tileCol === across - 1),
    );
    assert.ok(frames.some((f) => f.endsRow));

    const d = defaultConfig();
    const tile = { width: 224, height: 224 };
    const row = { ...d.pipeline, batchSize: 'row' as const };
    // 448 px, tiles of 224 with 32 px overlap: columns at 0, 192, 224.
    assert.equal(
      maxBatchFrames({ ...d, pipeline: row, source: { ...d.source, type: 'synthetic-web', width: 448 } as typeof d.source }, tile),
      3,
    );
    const cams = [448, 1000].map((widthPx, i) => ({ id: `c${i}`, offsetMm: i * 40, widthPx }));
    assert.equal(
      maxBatchFrames({ ...d, pipeline: row, cameras: cams as typeof d.cameras }, tile),
      tileColumns({ webWidth: 1000, tileWidth: 224, tileHeight: 224, overlap: 32 }).length,
    );
    assert.equal(
      maxBatchFrames({ ...d, pipeline: row, source: { type: 'capture', device: 0 } as unknown as typeof d.source }, tile),
      UNKNOWN_ROW_TILES,
    );
    assert.equal(maxBatchFrames({ ...d, pipeline: { ...d.pipeline, batchSize: 4 } }, tile), 4);
    // A live web's queue holds two rows of every camera, or pipeline.queueSize where that is more.
    const wide = { ...d, source: { ...d.source, type: 'synthetic-web', width: 4096, linesPerSecond: 300 } as typeof d.source };
    assert.equal(queueCapacity(wide, tile), 44);
    assert.equal(queueCapacity({ ...wide, pipeline: { ...d.pipeline, queueSize: 64 } }, tile), 64);
    // 'block' loses nothing to a short queue: the source waits (also 'auto' for a web at 0 lines/s).
    assert.equal(queueCapacity({ ...wide, pipeline: { ...d.pipeline, queuePolicy: 'block' } }, tile), d.pipeline.queueSize);
    assert.equal(queueCapacity({ ...wide, source: { ...wide.source, linesPerSecond: 0 } as typeof d.source }, tile), d.pipeline.queueSize);
    assert.equal(
      queueCapacity({ ...wide, cameras: cams as typeof d.cameras }, tile),
      2 * 2 * tileColumns({ webWidth: 1000, tileWidth: 224, tileHeight: 224, overlap: 32 }).length,
    );
    assert.equal(queueCapacity({ ...d, source: { type: 'capture', device: 0 } as unknown as typeof d.source }, tile), d.pipeline.queueSize);
  });

  test('lost lines are detected', () => {
    const tiler = new WebTiler(g);
    assert.throws(
      () => tiler.push({ seq: 3, timestamp: 0, firstLine: 10, lines: 1, width: 300, data: new Uint8Array(900) }),
      /starts at line 10, expected 0/,
    );
  });

  test('an endless streak along the web is reported in bounded segments, each marked continues, with bounded memory', () => {
    // A streak at x 40-47 on every line: without a limit it would never be final.
    const merger = new WebMapMerger(g, 7, 4, { mmPerLine: 0, mmPerPixel: 0, maxRegionLines: 300 });
    const tiler = new WebTiler(g);
    const web = new SyntheticWeb({ width: g.webWidth, seed: 3, defectEvery: 0 });
    const regions = [];
    let maxRows = 0;
    for (const c of chunks(web, 4000, 64)) {
      for (const t of tiler.push(c)) {
        const map = new Float32Array(g.tileWidth * g.tileHeight);
        for (let y = 0; y < g.tileHeight; y++)
          for (let x = 0; x < g.tileWidth; x++) if (t.x + x >= 40 && t.x + x < 48) map[y * g.tileWidth + x] = 10;
        regions.push(...merger.add(t, map));
        maxRows = Math.max(maxRows, (merger as unknown as { rows: Map<number, unknown> }).rows.size);
      }
    }
    regions.push(...merger.flush());
    assert.ok(regions.length >= 10, `${regions.length} segments`);
    for (const r of regions.slice(0, -1)) {
      assert.equal(r.continues, true);
      assert.equal(r.box.x, 40);
      assert.ok(r.box.height <= 300 + 2 * g.tileHeight, `segment of ${r.box.height} lines`);
    }
    assert.equal(regions.at(-1)!.continues, undefined, 'the last segment ends with the web');
    // Segments tile the streak: each starts where the previous ended.
    for (let i = 1; i < regions.length; i++) assert.equal(regions[i]!.box.y, regions[i - 1]!.box.y + regions[i - 1]!.box.height);
    assert.ok(maxRows < 300 + 3 * g.tileHeight, `${maxRows} web rows held at once`);
  });
});
