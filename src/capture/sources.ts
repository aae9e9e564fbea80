// Frame sources as Observables: image folders (optionally watched), video files, live cameras
// through OpenCV VideoCapture (device index, RTSP URL, GStreamer pipeline) with reconnection,
// and the synthetic line-scan web. Each source waits on `flow.room()` before reading, so a
// 'block' queue policy stops reading instead of dropping.
import { readdirSync } from 'node:fs';
import { join } from 'node:path';
import { Observable } from 'rxjs';
import { isImageFile } from '../io/image-files.js';
import { readImage } from '../preprocess/decode.js';
import type { Image8 } from '../preprocess/image.js';
import { loadOpenCV } from '../preprocess/opencv.js';
import type { Frame, LineChunk } from '../pipeline/frame.js';
import { SyntheticWeb, type SyntheticWebOptions } from './synthetic-web.js';

/** Flow control between a source and the pipeline's queue. */
export interface Flow {
  /** Resolves when the pipeline can take another frame. */
  room(): Promise<void>;
}

export const FREE_FLOW: Flow = { room: () => Promise.resolve() };

export interface SourceEvents {
  /** A frame could not be read or decoded: counted and skipped. */
  onBadFrame(what: string, error: Error): void;
  /** A live source dropped and is reconnecting. */
  onReconnect(attempt: number, delayMs: number, error: Error): void;
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/**
 * Runs `loop` as an Observable; `loop` returns when the source is exhausted and checks
 * `closed()` to stop when unsubscribed.
 */
function fromLoop<T>(loop: (emit: (v: T) => void, closed: () => boolean) => Promise<void>): Observable<T> {
  return new Observable<T>((subscriber) => {
    let stopped = false;
    loop(
      (v) => subscriber.next(v),
      () => stopped || subscriber.closed,
    ).then(
      () => subscriber.complete(),
      (e) => subscriber.error(e),
    );
    return () => {
      stopped = true;
    };
  });
}

export function folderSource(opts: { path: string; watch: boolean; pollMs: number }, flow: Flow, events: SourceEvents): Observable<Frame> {
  return fromLoop<Frame>(async (emit, closed) => {
    const seen = new Set<string>();
    let seq = 0;
    for (;;) {
      let entries: string[];
      try {
        entries = readdirSync(opts.path);
      } catch (e) {
        throw new Error(`source.path: cannot read folder ${opts.path}: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`);
      }
      const names = entries
        .filter((f) => isImageFile(f) && !seen.has(f))
        .sort((a, b) => (a < b ? -1 : a > b ? 1 : 0));
      for (const name of names) {
        if (closed()) return;
        await flow.room();
        seen.add(name);
        const file = join(opts.path, name);
        let image: Image8;
        try {
          image = await readImage(file, 'rgb');
        } catch (e) {
          events.onBadFrame(file, e as Error);
          continue;
        }
        emit({ seq: seq++, timestamp: Date.now(), image, position: { index: seq - 1, file }, latency: {} });
      }
      if (!opts.watch || closed()) return;
      await sleep(opts.pollMs);
    }
  });
}

interface Capture {
  readAsync(): Promise<{ empty: boolean; rows: number; cols: number; channels: number; cvtColor(code: number): { getData(): Buffer; cols: number; rows: number } }>;
  release(): void;
}

async function openCapture(device: number | string): Promise<Capture> {
  const cv = await loadOpenCV();
  const cap = typeof device === 'string' && device.includes('!') ? new cv.VideoCapture(device, cv.CAP_GSTREAMER) : new cv.VideoCapture(device as never);
  return cap as unknown as Capture;
}

/** Video files and live cameras. Live cameras reconnect with exponential backoff; files end. */
export function captureSource(
  opts: { device: number | string; live: boolean; loop?: boolean; reconnect?: { initialMs: number; maxMs: number } },
  flow: Flow,
  events: SourceEvents,
): Observable<Frame> {
  return fromLoop<Frame>(async (emit, closed) => {
    const cv = await loadOpenCV();
    let seq = 0;
    let index = 0;
    let attempt = 0;
    while (!closed()) {
      let cap: Capture | undefined;
      try {
        cap = await openCapture(opts.device);
        for (;;) {
          if (closed()) return;
          await flow.room();
          const mat = await cap.readAsync();
          if (mat.empty) {
            if (opts.live) throw new Error('camera returned an empty frame');
            if (opts.loop && index > 0) break;
            return;
          }
          attempt = 0;
          const rgb = mat.channels === 1 ? mat.cvtColor(cv.COLOR_GRAY2RGB) : mat.cvtColor(cv.COLOR_BGR2RGB);
          emit({ seq: seq++, timestamp: Date.now(), image: { width: rgb.cols, height: rgb.rows, channels: 3, data: new Uint8Array(rgb.getData()) }, position: { index: index++ }, latency: {} });
        }
      } catch (e) {
        if (!opts.live) throw new Error(`${String(opts.device)}: cannot read video: ${(e as Error).message}`);
        const r = opts.reconnect ?? { initialMs: 500, maxMs: 30000 };
        const delay = Math.min(r.maxMs, r.initialMs * 2 ** attempt++);
        events.onReconnect(attempt, delay, e as Error);
        await sleep(delay);
      } finally {
        cap?.release();
      }
    }
  });
}

/** The simulated line-scan camera: chunks of lines, at a given line rate or as fast as taken. */
export function syntheticWebSource(opts: SyntheticWebOptions & { linesPerChunk: number; linesPerSecond: number; lines: number }, flow: Flow): { chunks: Observable<LineChunk>; web: SyntheticWeb } {
  const web = new SyntheticWeb(opts);
  const chunks = fromLoop<LineChunk>(async (emit, closed) => {
    let seq = 0;
    const start = Date.now();
    for (let first = 0; opts.lines === 0 || first < opts.lines; first += opts.linesPerChunk) {
      if (closed()) return;
      await flow.room();
      const n = opts.lines === 0 ? opts.linesPerChunk : Math.min(opts.linesPerChunk, opts.lines - first);
      if (opts.linesPerSecond > 0) {
        const due = start + ((first + n) / opts.linesPerSecond) * 1000;
        if (due > Date.now()) await sleep(due - Date.now());
      } else {
        // Yield so a pipeline consuming as fast as it can still serves timers and sockets.
        await new Promise((r) => setImmediate(r));
      }
      emit({ seq: seq++, timestamp: Date.now(), firstLine: first, lines: n, width: opts.width, data: web.render(first, n) });
    }
  });
  return { chunks, web };
}
