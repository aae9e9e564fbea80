// Frame sources: folder order and watching, video files through OpenCV, live-camera reconnection
// with backoff, and seeded synthetic webs.
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { appendFileSync, mkdirSync, mkdtempSync, renameSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import { firstValueFrom, take, toArray } from 'rxjs';
import { folderSource } from '../src/capture/folder-source.js';
import type { SourceEvents } from '../src/capture/source-events.js';
import { syntheticWebSource } from '../src/capture/synthetic-web-source.js';
import { videoSource } from '../src/capture/video-source.js';
import { pngDeclaring } from './helpers/hostile-files.js';
import { FREE_FLOW } from './helpers/reference-transforms.js';
import { loadOpenCV } from '../src/preprocess/opencv.js';

const dir = mkdtempSync(join(tmpdir(), 'patchline-sources-'));
const FOLDER = { pollMs: 50, settleMs: 100, retries: 3, maxFileMb: 64, maxPixels: 50_000_000, readTimeoutMs: 5000 };
const events = (): SourceEvents & { bad: string[]; reconnects: number[]; states: string[] } => {
  const e = { bad: [] as string[], reconnects: [] as number[], states: [] as string[] };
  return {
    ...e,
    onBadFrame: (w, err) => e.bad.push(`${w}: ${err.message}`),
    onReconnect: (_a, d) => e.reconnects.push(d),
    onState: (up) => e.states.push(up ? 'up' : 'down'),
    get states() {
      return e.states;
    },
    get bad() {
      return e.bad;
    },
    get reconnects() {
      return e.reconnects;
    },
  };
};

describe('sources', () => {
  test('folder: name order, sequence numbers, bad files skipped, new files picked up when watching', async () => {
    const cv = await loadOpenCV();
    const folder = join(dir, 'watch');
    (await import('node:fs')).mkdirSync(folder);
    for (const n of ['b', 'a']) cv.imwrite(join(folder, `${n}.png`), new cv.Mat(8, 8, cv.CV_8UC3, [1, 2, 3]));
    writeFileSync(join(folder, 'c.png'), 'broken');
    const ev = events();
    const got = firstValueFrom(folderSource({ ...FOLDER, path: folder, watch: true }, FREE_FLOW, ev).pipe(take(3), toArray()));
    setTimeout(() => cv.imwrite(join(folder, 'd.png'), new cv.Mat(8, 8, cv.CV_8UC3, [1, 2, 3])), 200);
    const frames = await got;
    assert.deepEqual(
      frames.map((f) => [f.seq, f.position.file?.slice(-5)]),
      [
        [0, 'a.png'],
        [1, 'b.png'],
        [2, 'd.png'],
      ],
    );
    assert.equal(ev.bad.length, 1);
  });

  test('video file: frames in order, then the source completes', async () => {
    const cv = await loadOpenCV();
    const path = join(dir, 'clip.avi');
    const w = new cv.VideoWriter(path, cv.VideoWriter.fourcc('MJPG'), 10, new cv.Size(64, 48));
    for (let i = 0; i < 5; i++) w.write(new cv.Mat(48, 64, cv.CV_8UC3, [i * 40, 0, 0]));
    w.release();
    const frames = await firstValueFrom(videoSource({ device: path, live: false }, FREE_FLOW, events()).pipe(toArray()));
    assert.equal(frames.length, 5);
    assert.deepEqual(
      frames.map((f) => f.position.index),
      [0, 1, 2, 3, 4],
    );
    assert.deepEqual([frames[0]!.image.width, frames[0]!.image.height], [64, 48]);
  });

  test('a live camera that fails reconnects with exponential backoff', async () => {
    const ev = events();
    const sub = videoSource(
      { device: join(dir, 'no-such-camera.avi'), live: true, reconnect: { initialMs: 20, maxMs: 80 } },
      FREE_FLOW,
      ev,
    ).subscribe();
    const until = Date.now() + 5000;
    while (ev.reconnects.length < 4 && Date.now() < until) await new Promise((r) => setTimeout(r, 50));
    sub.unsubscribe();
    assert.deepEqual(ev.reconnects.slice(0, 4), [20, 40, 80, 80]);
  });

  test('synthetic web: same seed, same lines, whatever the chunking', async () => {
    const a = await firstValueFrom(
      syntheticWebSource({ width: 32, seed: 4, defectEvery: 50, linesPerChunk: 10, linesPerSecond: 0, lines: 100 }, FREE_FLOW).chunks.pipe(
        toArray(),
      ),
    );
    const b = await firstValueFrom(
      syntheticWebSource({ width: 32, seed: 4, defectEvery: 50, linesPerChunk: 33, linesPerSecond: 0, lines: 100 }, FREE_FLOW).chunks.pipe(
        toArray(),
      ),
    );
    const join2 = (cs: typeof a) => Buffer.concat(cs.map((c) => Buffer.from(c.data)));
    assert.equal(a.length, 10);
    assert.equal(b.at(-1)!.lines, 1);
    assert.ok(join2(a).equals(join2(b)));
  });

  test('watched folder: a FIFO, a /dev/zero link, a bomb PNG and an oversized file are counted and skipped; good files still flow', async () => {
    const cv = await loadOpenCV();
    const folder = join(dir, 'hostile');
    mkdirSync(folder);
    execFileSync('mkfifo', [join(folder, 'a-fifo.png')]);
    symlinkSync('/dev/zero', join(folder, 'b-zero.png'));
    writeFileSync(join(folder, 'c-bomb.png'), pngDeclaring(20000, 20000));
    writeFileSync(join(folder, 'd-huge.png'), Buffer.alloc(2 * 2 ** 20));
    cv.imwrite(join(folder, 'e-good.png'), new cv.Mat(8, 8, cv.CV_8UC3, [1, 2, 3]));
    const ev = events();
    const backlog: number[] = [];
    const frames = await firstValueFrom(
      folderSource({ ...FOLDER, path: folder, watch: true, maxFileMb: 1, settleMs: 0 }, FREE_FLOW, {
        ...ev,
        onBacklog: (n) => backlog.push(n),
      }).pipe(take(1), toArray()),
    );
    assert.deepEqual(
      frames.map((f) => f.position.file?.slice(-10)),
      ['e-good.png'],
    );
    assert.equal(ev.bad.length, 4, ev.bad.join('\n'));
    assert.match(ev.bad[0]!, /a-fifo\.png: not a regular file/);
    assert.match(ev.bad[1]!, /b-zero\.png: not a regular file/);
    assert.match(ev.bad[2]!, /c-bomb\.png: declares 20000x20000/);
    assert.match(ev.bad[3]!, /d-huge\.png: 2097152 bytes is more than the limit/);
    assert.equal(backlog[0], 5);
  });

  test('a file written slowly is read once it is complete, not lost', async () => {
    const cv = await loadOpenCV();
    const folder = join(dir, 'slow');
    mkdirSync(folder);
    const png = cv.imencode('.png', new cv.Mat(64, 64, cv.CV_8UC3, [9, 8, 7]));
    const path = join(folder, 'slow.png');
    writeFileSync(path, png.subarray(0, 100));
    const ev = events();
    const got = firstValueFrom(
      folderSource({ ...FOLDER, path: folder, watch: true, settleMs: 150, retries: 5 }, FREE_FLOW, ev).pipe(take(1), toArray()),
    );
    // The writer pauses longer than settleMs: the first read sees a truncated file and waits.
    await new Promise((r) => setTimeout(r, 400));
    appendFileSync(path, png.subarray(100));
    const frames = await got;
    assert.deepEqual([frames[0]!.image.width, frames[0]!.image.height], [64, 64]);
    assert.deepEqual(ev.bad, []);
  });

  test('a watched folder that is deleted is reported down and resumes when it returns', async () => {
    const cv = await loadOpenCV();
    const folder = join(dir, 'vanishing');
    mkdirSync(folder);
    cv.imwrite(join(folder, 'a.png'), new cv.Mat(8, 8, cv.CV_8UC3, [1, 2, 3]));
    const ev = events();
    const got = firstValueFrom(folderSource({ ...FOLDER, path: folder, watch: true, settleMs: 0 }, FREE_FLOW, ev).pipe(take(2), toArray()));
    await new Promise((r) => setTimeout(r, 300));
    renameSync(folder, `${folder}.away`);
    await new Promise((r) => setTimeout(r, 300));
    assert.deepEqual(ev.states, ['down']);
    rmSync(`${folder}.away`, { recursive: true });
    mkdirSync(folder);
    cv.imwrite(join(folder, 'b.png'), new cv.Mat(8, 8, cv.CV_8UC3, [1, 2, 3]));
    const frames = await got;
    assert.deepEqual(
      frames.map((f) => f.position.file?.slice(-5)),
      ['a.png', 'b.png'],
    );
    assert.deepEqual(ev.states, ['down', 'up']);
  });
});
