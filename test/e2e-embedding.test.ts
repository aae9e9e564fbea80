// Pixels -> embedding through preprocessing, the ORT backbone and the head, against the
// reference's memory bank (fixture ResNet18, layer2+layer3, patchsize 3, 1024 -> 1024).
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { readNpy, readNpyFloat32 } from '../src/io/npy.js';
import { listImages } from '../src/io/image-files.js';
import { resolveBackbone } from '../src/model/backbone.js';
import { InferenceRuntime } from '../src/model/inference-runtime.js';
import { Embedder } from '../src/patchcore/embedder.js';
import { loadBatch } from '../src/preprocess/batch.js';
import { IMAGENET_NORMALIZATION, REFERENCE_RESIZE } from '../src/preprocess/transform.js';
import { assertClose, compareClose, perturbed } from './helpers/compare.js';
import { useTestCache } from './helpers/cache.js';
import { REFERENCE_DIR, sharedPath } from './helpers/shared.js';

useTestCache();

function rowStats(data: Float32Array, dim: number): Float64Array {
  const rows = data.length / dim;
  const s = new Float64Array(rows * 2);
  for (let r = 0; r < rows; r++) {
    let sum = 0;
    let sq = 0;
    for (let d = 0; d < dim; d++) {
      const v = data[r * dim + d]!;
      sum += v;
      sq += v * v;
    }
    s[r * 2] = sum;
    s[r * 2 + 1] = Math.sqrt(sq);
  }
  return s;
}

describe('e2e embedding vs reference memory bank', () => {
  let runtime: InferenceRuntime;
  before(() => {
    runtime = new InferenceRuntime({ intraOpThreads: 2 });
  });
  after(() => runtime.close());

  test('train embeddings match bank_image0 element-wise and bank_row_stats for every row', async (t) => {
    const onnx = sharedPath(t, 'fixtures', 'reference', 'backbone', 'resnet18_l2l3_seed0.onnx');
    if (!onnx) return;
    const embedder = await Embedder.create(
      runtime,
      resolveBackbone(onnx),
      ['layer2', 'layer3'],
      { patchsize: 3, pretrainDim: 1024, targetDim: 1024 },
      { width: 224, height: 224 },
    );
    const files = listImages(join(REFERENCE_DIR, 'e2e', 'mvtec', 'synthtex', 'train', 'good'));
    assert.equal(files.length, 10);
    const parts: Float32Array[] = [];
    for (let i = 0; i < files.length; i += 2) {
      parts.push((await embedder.embed(await loadBatch(files.slice(i, i + 2), REFERENCE_RESIZE, IMAGENET_NORMALIZATION))).data);
    }
    const bank = new Float32Array(parts.reduce((n, p) => n + p.length, 0));
    let o = 0;
    for (const p of parts) {
      bank.set(p, o);
      o += p.length;
    }
    const image0 = readNpyFloat32(join(REFERENCE_DIR, 'e2e', 'bank_image0.npy'));
    const r = assertClose(bank.subarray(0, image0.data.length), image0.data, { atol: 1e-5, rtol: 1e-6 }, 'bank_image0');
    t.diagnostic(`bank_image0 max |diff| ${r.maxAbs.toExponential(2)}`);
    assert.equal(compareClose(bank.subarray(0, image0.data.length), perturbed(image0.data, 5, 1e-4), { atol: 1e-5, rtol: 1e-6 }).ok, false);
    const stats = readNpy(join(REFERENCE_DIR, 'e2e', 'bank_row_stats.npy'));
    assert.deepEqual(stats.shape, [7840, 2]);
    const s = assertClose(rowStats(bank, 1024), stats.data as Float64Array, { atol: 1e-4, rtol: 1e-5 }, 'bank_row_stats');
    t.diagnostic(`bank_row_stats max |diff| ${s.maxAbs.toExponential(2)}`);
  });
});
