// A small bank fitted on the defect-free synthetic web (as the demo does), for pipeline tests.
import { mkdirSync, mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { SyntheticWeb } from '../../src/capture/synthetic-web.js';
import { resolveBackbone } from '../../src/model/backbone.js';
import { InferenceRuntime } from '../../src/model/inference-runtime.js';
import { writeBank } from '../../src/patchcore/bank-file.js';
import { fitBank } from '../../src/patchcore/fit.js';
import { WebTiler } from '../../src/pipeline/web-tiler.js';
import { loadOpenCV } from '../../src/preprocess/opencv.js';

/** `coreset`: share kept (different shares give different banks for reload tests). */
export async function fitWebBank(modelDir: string, coreset = 0.1): Promise<string> {
  const cv = await loadOpenCV();
  const dir = mkdtempSync(join(tmpdir(), 'patchline-webbank-'));
  mkdirSync(join(dir, 'train'));
  const web = new SyntheticWeb({ width: 448, seed: 1000, defectEvery: 0 });
  const tiles = new WebTiler({ webWidth: 448, tileWidth: 224, tileHeight: 224, overlap: 0 }).push({ seq: 0, timestamp: 0, firstLine: 0, lines: 2240, width: 448, data: web.render(0, 2240) });
  const files = tiles.map((t, i) => {
    const p = join(dir, 'train', `${i}.png`);
    cv.imwrite(p, new cv.Mat(Buffer.from(t.image.data), 224, 224, cv.CV_8UC3).cvtColor(cv.COLOR_RGB2BGR));
    return p;
  });
  const runtime = new InferenceRuntime({ intraOpThreads: 2 });
  try {
    const backbone = resolveBackbone('mobilenetv2', modelDir);
    const fit = await fitBank(
      runtime,
      files,
      {
        backbone,
        backboneRef: 'mobilenetv2',
        layers: backbone.spec.defaultLayers,
        head: { patchsize: 3, pretrainDim: 256, targetDim: 256 },
        resize: { mode: 'exact', width: 224, height: 224 },
        coreset: { method: 'approximate', percentage: coreset, seed: 0 },
        k: 1,
        mapSigma: 4,
        holdout: 0.15,
        calibration: { quantile: 1, margin: 0.15 },
        batchSize: 8,
        folder: dir,
      },
      { stage: () => ({ tick() {}, stop() {} }) },
    );
    const path = join(dir, 'web.bank');
    writeBank(path, fit.manifest, fit.rows);
    return path;
  } finally {
    await runtime.close();
  }
}
