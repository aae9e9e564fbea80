// A bank taught on the simulated defect-free web: the demo's first step, and the bank the
// streaming tests and benchmarks run with.
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { SyntheticWeb } from '../linescan/synthetic-web.js';
import { WebTiler } from '../linescan/web-tiler.js';
import type { ResolvedBackbone } from '../model/backbone.js';
import { InferenceRuntime } from '../model/inference-runtime.js';
import { writeBank, type BankManifest } from '../patchcore/bank-file.js';
import { FIT_DEFAULTS, fitBank, type FitProgress } from '../patchcore/fit.js';
import { loadOpenCV } from '../preprocess/opencv.js';

export const WEB_WIDTH = 448;
export const TILE = 224;

/** Writes non-overlapping tiles of `lines` lines of a defect-free web as PNG files. */
export async function writeWebTiles(dir: string, lines: number, seed = 1000): Promise<string[]> {
  const cv = await loadOpenCV();
  mkdirSync(dir, { recursive: true });
  const web = new SyntheticWeb({ width: WEB_WIDTH, seed, defectEvery: 0 });
  const tiles = new WebTiler({ webWidth: WEB_WIDTH, tileWidth: TILE, tileHeight: TILE, overlap: 0 }).push({
    seq: 0,
    timestamp: 0,
    firstLine: 0,
    lines,
    width: WEB_WIDTH,
    data: web.render(0, lines),
  });
  return tiles.map((t, i) => {
    const path = join(dir, `tile-${String(i).padStart(3, '0')}.png`);
    cv.imwrite(path, new cv.Mat(Buffer.from(t.image.data), TILE, TILE, cv.CV_8UC3).cvtColor(cv.COLOR_RGB2BGR));
    return path;
  });
}

export interface WebBankOptions {
  dir: string;
  backbone: ResolvedBackbone;
  backboneRef: string;
  layers: string[];
  dim: number;
  coreset: number;
  lines: number;
  progress?: FitProgress;
  threads?: number;
}

/** Tiles of a clean web in `dir/train`, a bank in `dir/web.bank` (15 % of tiles set the threshold). */
export async function fitWebBank(o: WebBankOptions): Promise<{ path: string; manifest: BankManifest }> {
  const files = await writeWebTiles(join(o.dir, 'train'), o.lines);
  const runtime = new InferenceRuntime(o.threads ? { intraOpThreads: o.threads } : {});
  try {
    const fit = await fitBank(
      runtime,
      files,
      {
        ...FIT_DEFAULTS,
        backbone: o.backbone,
        backboneRef: o.backboneRef,
        layers: o.layers,
        head: { ...FIT_DEFAULTS.head, pretrainDim: o.dim, targetDim: o.dim },
        // Tiles are already at the model size; the threshold sits above every held-out clean tile.
        resize: { mode: 'exact', width: TILE, height: TILE },
        coreset: { ...FIT_DEFAULTS.coreset, percentage: o.coreset },
        holdout: 0.15,
        calibration: { quantile: 1, margin: 0.15 },
        folder: join(o.dir, 'train'),
      },
      o.progress ?? { stage: () => ({ tick() {}, stop() {} }) },
    );
    const path = join(o.dir, 'web.bank');
    return { path, manifest: writeBank(path, fit.manifest, fit.rows) };
  } finally {
    await runtime.close();
  }
}
