// Video files and live cameras through OpenCV VideoCapture (device index, RTSP URL, GStreamer
// pipeline). Live cameras reconnect with exponential backoff; files end (or loop).
import type { Observable } from 'rxjs';
import type { Flow } from '../core/flow.js';
import type { Frame } from '../core/frame.js';
import { loadOpenCV } from '../preprocess/opencv.js';
import { fromLoop, sleep } from './from-loop.js';
import type { SourceEvents } from './source-events.js';

interface Capture {
  readAsync(): Promise<{
    empty: boolean;
    rows: number;
    cols: number;
    channels: number;
    cvtColor(code: number): { getData(): Buffer; cols: number; rows: number; release(): void };
    release(): void;
  }>;
  release(): void;
}

async function openCapture(device: number | string): Promise<Capture> {
  const cv = await loadOpenCV();
  const cap =
    typeof device === 'string' && device.includes('!')
      ? new cv.VideoCapture(device, cv.CAP_GSTREAMER)
      : new cv.VideoCapture(device as never);
  return cap as unknown as Capture;
}

export function videoSource(
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
          emit({
            seq: seq++,
            timestamp: Date.now(),
            image: { width: rgb.cols, height: rgb.rows, channels: 3, data: new Uint8Array(rgb.getData()) },
            position: { index: index++ },
            latency: {},
          });
          // Freed now rather than when the collector finds the wrappers: a camera is an endless stream.
          rgb.release();
          mat.release();
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
