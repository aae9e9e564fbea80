// The zoo's int8 MobileNetV2 through the same path as any backbone: dequantized stride-8 and
// stride-16 features, and embeddings that separate textures.
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { CATALOGUE, DEFAULT_BACKBONE, resolveBackbone } from '../src/model/backbone.js';
import { InferenceRuntime } from '../src/model/inference-runtime.js';
import { Embedder } from '../src/patchcore/embedder.js';
import { imagesToBatch } from '../src/preprocess/batch.js';
import { cropImage, REFERENCE_RESIZE } from '../src/preprocess/transform.js';
import { texture } from './helpers/texture.js';
import { useTestCache } from './helpers/cache.js';
import { sharedPath } from './helpers/shared.js';

useTestCache();

function meanRow(data: Float32Array, rows: number, dim: number, first: number): Float64Array {
  const m = new Float64Array(dim);
  for (let r = first; r < first + rows; r++) for (let d = 0; d < dim; d++) m[d]! += data[r * dim + d]! / rows;
  return m;
}

function distance(a: Float64Array, b: Float64Array): number {
  let s = 0;
  for (let i = 0; i < a.length; i++) s += (a[i]! - b[i]!) ** 2;
  return Math.sqrt(s);
}

describe('zoo MobileNetV2 (int8)', () => {
  let runtime: InferenceRuntime;
  before(() => {
    runtime = new InferenceRuntime({ intraOpThreads: 2 });
  });
  after(() => runtime.close());

  test('features.6 / features.13 come out dequantized at stride 8 and 16; crops of one texture embed closer than another texture', async (t) => {
    const models = sharedPath(t, 'models', CATALOGUE[DEFAULT_BACKBONE]!.onnx);
    if (!models) return;
    const backbone = resolveBackbone(DEFAULT_BACKBONE, `${models}/..`);
    const embedder = await Embedder.create(
      runtime,
      backbone,
      ['features.6', 'features.13'],
      { patchsize: 3, pretrainDim: 256, targetDim: 256 },
      { width: 224, height: 224 },
    );
    assert.deepEqual(
      embedder.headSpec.layers.map((l) => [l.name, l.channels, 224 / l.height, 224 / l.width]),
      [
        ['features.6', 32, 8, 8],
        ['features.13', 96, 16, 16],
      ],
    );
    const stripes = texture({ kind: 'stripes', width: 600, height: 600, seed: 1, period: 14, angle: 0.5 });
    const weave = texture({ kind: 'weave', width: 256, height: 256, seed: 2, period: 10, color: [120, 140, 150] });
    const images = [cropImage(stripes, 0, 0, 256, 256), cropImage(stripes, 330, 310, 256, 256), weave];
    const e = await embedder.embed(imagesToBatch(images, REFERENCE_RESIZE, backbone.spec.normalization));
    const per = e.grid.height * e.grid.width;
    assert.equal(e.data.length, 3 * per * 256);
    assert.ok(e.data.every(Number.isFinite));
    const [a, b, c] = [0, 1, 2].map((i) => meanRow(e.data, per, 256, i * per)) as [Float64Array, Float64Array, Float64Array];
    const same = distance(a, b);
    const other = Math.min(distance(a, c), distance(b, c));
    t.diagnostic(`same texture ${same.toFixed(3)}, other texture ${other.toFixed(3)}`);
    assert.ok(same * 2 < other, `crops of one texture (${same}) must embed much closer than another texture (${other})`);
  });
});
