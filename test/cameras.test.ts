// Several line-scan cameras over one web: the layout across the web, and defects in the strips two
// cameras both see reported once, at the right cross-direction position, also when a camera drops out.
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { loadConfig } from '../src/config/load.js';
import type { LineChunk } from '../src/core/frame.js';
import { camerasSeeing, ownerAt, webLayout, type CameraPlacement } from '../src/linescan/camera-layout.js';
import { cameraRegion, OverlapMerger, type WebDefect } from '../src/linescan/overlap-merge.js';
import { viewOf } from '../src/pipeline/camera-frames.js';
import { SyntheticWeb, type SyntheticDefect } from '../src/linescan/synthetic-web.js';
import { WebMapMerger } from '../src/linescan/web-map.js';
import { WebTiler, type TileGeometry } from '../src/linescan/web-tiler.js';

const PITCH = 0.1;
const MM_PER_LINE = 0.1;
// Three cameras of 300 px at 0.1 mm: 0-30, 26-56 and 52-82 mm; overlaps 26-30 and 52-56 mm.
const cameras: CameraPlacement[] = [
  { id: 'left', offsetMm: 0, mmPerPixel: PITCH, widthPx: 300 },
  { id: 'middle', offsetMm: 26, mmPerPixel: PITCH, widthPx: 300 },
  { id: 'right', offsetMm: 52, mmPerPixel: PITCH, widthPx: 300 },
];

describe('camera layout across the web', () => {
  test('overlaps, owned parts split at the overlap midpoints, whatever the order of the entries', () => {
    const layout = webLayout([cameras[2]!, cameras[0]!, cameras[1]!]);
    assert.deepEqual(
      layout.cameras.map((c) => c.id),
      ['left', 'middle', 'right'],
    );
    assert.deepEqual(layout.overlaps, [
      { left: 'left', right: 'middle', startMm: 26, endMm: 30 },
      { left: 'middle', right: 'right', startMm: 52, endMm: 56 },
    ]);
    assert.deepEqual(layout.gaps, []);
    assert.deepEqual(
      layout.cameras.map((c) => [c.ownStartMm, c.ownEndMm]),
      [
        [-Infinity, 28],
        [28, 54],
        [54, Infinity],
      ],
    );
    assert.equal(ownerAt(layout, 27.9).id, 'left');
    assert.equal(ownerAt(layout, 28).id, 'middle');
    assert.equal(ownerAt(layout, 60).id, 'right');
    assert.deepEqual(
      camerasSeeing(layout, 29, 31).map((c) => c.id),
      ['left', 'middle'],
    );
  });

  test('a gap between neighbours is reported, not an error; the web splits at the gap', () => {
    const layout = webLayout([cameras[0]!, { ...cameras[1]!, offsetMm: 35 }]);
    assert.deepEqual(layout.gaps, [{ left: 'left', right: 'middle', startMm: 30, endMm: 35 }]);
    assert.deepEqual(layout.overlaps, []);
    assert.equal(layout.cameras[0]!.ownEndMm, 35);
  });

  test('bad layouts are refused naming the entry and field', () => {
    assert.throws(() => webLayout([]), /cameras: at least one camera/);
    assert.throws(() => webLayout([cameras[0]!, { ...cameras[1]!, id: 'left' }]), /cameras\[1\]\.id: 'left' is also cameras\[0\]'s id/);
    assert.throws(() => webLayout([cameras[0]!, { ...cameras[1]!, mmPerPixel: 0 }]), /cameras\[1\]\.mmPerPixel: 0 must be > 0/);
    assert.throws(() => webLayout([{ ...cameras[0]!, widthPx: 10.5 }]), /cameras\[0\]\.widthPx: 10\.5/);
    assert.throws(() => webLayout([{ ...cameras[0]!, offsetMm: Number.NaN }]), /cameras\[0\]\.offsetMm/);
    assert.throws(
      () => webLayout([cameras[0]!, { ...cameras[1]!, offsetMm: 5, widthPx: 100 }]),
      /cameras\[1\]: \('middle'\) sees only what cameras\[0\] \('left'\) sees/,
    );
    assert.throws(
      () => webLayout([cameras[0]!, { ...cameras[1]!, offsetMm: 10 }, { ...cameras[2]!, offsetMm: 25 }]),
      /cameras\[2\]\.offsetMm: \('right'\) starts at 25 mm, inside cameras\[0\] \('left'\).*at most two cameras/,
    );
  });
});

describe('cameras in the config', () => {
  const file = join(mkdtempSync(join(tmpdir(), 'patchline-cameras-config-')), 'web.yaml');
  const load = (yaml: string) => {
    writeFileSync(file, yaml);
    return loadConfig(file);
  };

  test('a valid layout loads; every camera views the synthetic web by default', () => {
    const c = load(
      'linescan: { mmPerLine: 0.1, mmPerPixel: 0.1 }\nsource: { type: synthetic-web, width: 1144 }\ncameras:\n  - { id: a, offsetMm: 0, widthPx: 448 }\n  - { id: b, offsetMm: 34.8, widthPx: 448 }\n',
    );
    assert.deepEqual(
      c.cameras.map((x) => x.id),
      ['a', 'b'],
    );
  });

  test('bad layouts stop with the file, the entry and the field', () => {
    assert.throws(
      () =>
        load(
          'linescan: { mmPerLine: 0.1, mmPerPixel: 0.1 }\ncameras:\n  - { id: a, offsetMm: 0, widthPx: 448 }\n  - { id: a, offsetMm: 30, widthPx: 448 }\n',
        ),
      /web\.yaml: cameras\.1\.id: 'a' is also cameras\[0\]'s id/,
    );
    assert.throws(
      () => load('source: { type: folder, path: /tmp }\ncameras:\n  - { id: a, offsetMm: 0, widthPx: 448 }\n'),
      (e: Error) =>
        /cameras\.0\.mmPerPixel: needed to place the camera/.test(e.message) &&
        /cameras\.0\.source: a camera without its own source views the synthetic web, but source\.type is 'folder'/.test(e.message) &&
        /linescan\.mmPerLine: several cameras meet on the web in mm/.test(e.message),
    );
    assert.throws(
      () =>
        load(
          'linescan: { mmPerLine: 0.1, mmPerPixel: 0.1 }\nrecipes: { felt: { store: /tmp/felt } }\nmodel: { recipe: felt }\ncameras:\n  - { id: a, offsetMm: 0, widthPx: 448, bank: edge.bank }\n',
        ),
      /web\.yaml: cameras\.0\.bank: a recipe switches every camera's bank, so a camera cannot keep its own: drop model\.recipe or cameras\[0\]\.bank/,
    );
  });
});

// The web in pixels of the common 0.1 mm grid; each camera sees columns [offset, offset + 300).
const WEB_PX = 820;
const g: TileGeometry = { webWidth: 300, tileWidth: 128, tileHeight: 128, overlap: 32 };

/** An ideal detector (as in the single-camera tiling test): 10 inside a defect, 5 on a halo, 0 elsewhere. */
function oracle(line: number, x: number, defects: SyntheticDefect[]): number {
  for (const e of defects) {
    const r = ((line - e.line) / e.halfLength) ** 2 + ((x - e.x) / e.halfWidth) ** 2;
    if (r <= 1) return 10;
    if (r <= 1.6) return 5;
  }
  return 0;
}

interface Run {
  defects: WebDefect[];
  /** What each camera reported on its own, before merging. */
  perCamera: number;
  waitingAtEnd: number;
}

/**
 * The cameras' chunks interleaved (as one process takes them), each camera tiled and its maps
 * merged on its own, then the overlap merge. `downAt`: a camera stops delivering at that line.
 */
function inspect(defectsPx: SyntheticDefect[], opts: { downAt?: { camera: string; line: number }; merge?: boolean } = {}): Run {
  const web = new SyntheticWeb({ width: WEB_PX, seed: 5, defectEvery: 0, defects: defectsPx });
  const layout = webLayout(cameras);
  const overlap = new OverlapMerger(layout, 1);
  const lanes = cameras.map((c) => ({
    camera: c,
    x0: Math.round(c.offsetMm / PITCH),
    tiler: new WebTiler(g),
    map: new WebMapMerger(g, 7, 4, { mmPerLine: MM_PER_LINE, mmPerPixel: PITCH }),
    up: true,
  }));
  const out: WebDefect[] = [];
  let perCamera = 0;
  const report = (lane: (typeof lanes)[number], regions: ReturnType<WebMapMerger['add']>, before: number) => {
    perCamera += regions.length;
    out.push(
      ...overlap.add(
        lane.camera.id,
        regions.map((r) => cameraRegion(lane.camera, r, MM_PER_LINE)),
        before * MM_PER_LINE,
      ),
    );
  };
  const LINES = 700;
  const PER = 50;
  for (let first = 0, seq = 0; first < LINES; first += PER, seq++) {
    const n = Math.min(PER, LINES - first);
    const whole: LineChunk = { seq, timestamp: seq, firstLine: first, lines: n, width: WEB_PX, data: web.render(first, n) };
    for (const lane of lanes) {
      if (!lane.up) continue;
      if (opts.downAt?.camera === lane.camera.id && first >= opts.downAt.line) {
        lane.up = false;
        out.push(...overlap.setDown(lane.camera.id, true));
        continue;
      }
      for (const t of lane.tiler.push(viewOf(whole, lane.x0, g.webWidth))) {
        const m = new Float32Array(g.tileWidth * g.tileHeight);
        for (let y = 0; y < g.tileHeight; y++)
          for (let x = 0; x < g.tileWidth; x++) m[y * g.tileWidth + x] = oracle(t.line + y, lane.x0 + t.x + x, defectsPx);
        report(lane, lane.map.add(t, m), lane.map.reportedBefore);
      }
    }
  }
  for (const lane of lanes) if (lane.up) report(lane, lane.map.flush(), Infinity);
  const waitingAtEnd = overlap.waiting;
  out.push(...overlap.flush());
  return { defects: out, perCamera, waitingAtEnd };
}

const centre = (d: WebDefect) => ({ along: d.alongMm + d.lengthMm / 2, across: d.acrossMm + d.widthMm / 2 });

describe('three cameras over one web: a defect in an overlap is reported once', () => {
  // Web pixels (0.1 mm): 275 and 545 lie in the two overlap strips, 100 and 700 in one camera's view only.
  const defects: SyntheticDefect[] = [
    { kind: 'spot', line: 150, x: 275, halfLength: 6, halfWidth: 6 },
    { kind: 'scratch', line: 400, x: 545, halfLength: 25, halfWidth: 2 },
    { kind: 'spot', line: 300, x: 100, halfLength: 5, halfWidth: 5 },
    { kind: 'spot', line: 520, x: 700, halfLength: 5, halfWidth: 5 },
  ];

  test('each defect once, at its web position, answered by the camera that owns it', () => {
    const run = inspect(defects);
    assert.equal(run.perCamera, 6, 'the cameras on their own report the two overlap defects twice');
    assert.equal(run.defects.length, 4, JSON.stringify(run.defects));
    assert.equal(run.waitingAtEnd, 0, 'nothing waits once every camera has reported the whole web');
    const byAlong = [...run.defects].sort((a, b) => a.alongMm - b.alongMm);
    const expected = [...defects].sort((a, b) => a.line - b.line);
    byAlong.forEach((d, i) => {
      const e = expected[i]!;
      const c = centre(d);
      assert.ok(Math.abs(c.across - e.x * PITCH) <= 0.3, `defect ${i}: across ${c.across} mm, expected ${e.x * PITCH}`);
      assert.ok(Math.abs(c.along - e.line * MM_PER_LINE) <= 0.3, `defect ${i}: along ${c.along} mm, expected ${e.line * MM_PER_LINE}`);
    });
    const spotInOverlap = byAlong[0]!;
    assert.deepEqual(spotInOverlap.seenBy, ['left', 'middle']);
    assert.equal(spotInOverlap.camera, 'left', '27.5 mm lies left of the overlap midpoint (28 mm)');
    const scratchInOverlap = byAlong[2]!;
    assert.deepEqual(scratchInOverlap.seenBy, ['middle', 'right']);
    assert.equal(scratchInOverlap.camera, 'right', '54.5 mm lies right of the overlap midpoint (54 mm)');
    assert.deepEqual(byAlong[1]!.seenBy, ['left']);
    assert.deepEqual(byAlong[3]!.seenBy, ['right']);
  });

  test('a camera lost mid-run: the others go on, and what only it would have confirmed is not held back', () => {
    const run = inspect(defects, { downAt: { camera: 'right', line: 300 } });
    assert.equal(run.waitingAtEnd, 0, 'nothing waits for the camera that is down');
    const along = run.defects.map((d) => [centre(d).along, d.seenBy.join('+')]);
    // The right camera went down before the overlap scratch (line 400) and the spot at 700 px.
    assert.deepEqual(
      along.map(([, by]) => by),
      ['left+middle', 'left', 'middle'],
    );
    const scratch = run.defects[2]!;
    assert.ok(Math.abs(centre(scratch).across - 54.5) <= 0.3, `the middle camera alone places the scratch at ${centre(scratch).across} mm`);
    assert.equal(scratch.camera, 'middle', 'the owner of 54.5 mm is down: the camera that saw it answers');
  });

  test('a region near a silent neighbour waits for it', () => {
    const layout = webLayout(cameras);
    const merger = new OverlapMerger(layout, 1);
    const region = {
      camera: 'left',
      alongMm: 10,
      acrossMm: 27,
      lengthMm: 1,
      widthMm: 1,
      peak: { alongMm: 10.5, acrossMm: 27.5, score: 9 },
    };
    assert.deepEqual(merger.add('left', [region], 20), []);
    assert.equal(merger.waiting, 1);
    assert.deepEqual(merger.add('middle', [], 11), [], 'the middle camera has not yet reported past the region (with tolerance)');
    const out = merger.add('middle', [], 13);
    assert.equal(out.length, 1);
    assert.deepEqual(out[0]!.seenBy, ['left']);
    assert.throws(() => merger.add('nowhere', [], 0), /unknown camera 'nowhere'/);
    assert.throws(() => merger.add('middle', [region], 0), /a region of 'left' added as 'middle'/);
  });
});
