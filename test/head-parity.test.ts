// Parity of the ONNX embedding head with the reference PatchCore._embed (fixtures head/a-f).
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { readNpyFloat32 } from '../src/io/npy.js';
import { InferenceRuntime } from '../src/model/inference-runtime.js';
import { bilinearMatrix } from '../src/patchcore/bilinear.js';
import { adaptiveBins } from '../src/patchcore/embedding-head.js';
import { embedFeatureMaps } from '../src/patchcore/embed-features.js';
import { assertClose, compareClose, perturbed } from './helpers/compare.js';
import { REFERENCE_DIR, sharedPath } from './helpers/shared.js';

interface HeadCase {
  layers: Record<string, number[]>;
  patchsize: number;
  pretrain_embed_dimension: number;
  target_embed_dimension: number;
}

describe('embedding head vs reference fixtures', () => {
  let runtime: InferenceRuntime;
  before(() => {
    runtime = new InferenceRuntime({ intraOpThreads: 2 });
  });
  after(() => runtime.close());

  for (const name of ['a_wrn50_like', 'b_resnet18_like', 'c_ensemble_dims', 'd_odd_grid', 'e_three_layers', 'f_upsampling']) {
    test(`head case ${name} matches within atol 1e-6 and a perturbed fixture fails`, async (t) => {
      const manifestPath = sharedPath(t, 'fixtures', 'reference', 'manifest.json');
      if (!manifestPath) return;
      const cases = JSON.parse(readFileSync(manifestPath, 'utf8')).cases as Record<string, HeadCase>;
      const c = cases[`head/${name}`]!;
      const dir = join(REFERENCE_DIR, 'head', name);
      const maps = Object.keys(c.layers).map((layer) => {
        const a = readNpyFloat32(join(dir, `input_${layer}.npy`));
        return { name: layer, tensor: { type: 'float32' as const, data: a.data, dims: a.shape } };
      });
      const out = await embedFeatureMaps(runtime, maps, {
        patchsize: c.patchsize,
        pretrainDim: c.pretrain_embed_dimension,
        targetDim: c.target_embed_dimension,
      });
      const expected = readNpyFloat32(join(dir, 'embedding.npy'));
      assert.deepEqual(out.dims, expected.shape);
      const r = assertClose(out.data, expected.data, { atol: 1e-6 }, name);
      t.diagnostic(`max |diff| ${r.maxAbs.toExponential(2)}`);
      const worse = compareClose(out.data, perturbed(expected.data, 123, 1e-5), { atol: 1e-6 }, `${name} perturbed`);
      assert.equal(worse.ok, false, 'a perturbed fixture must fail the comparison');
    });
  }
});

describe('head building blocks', () => {
  test('adaptive bins follow torch: overlap when D does not divide L, repeats when D > L', () => {
    const down = adaptiveBins(9, 4); // 9 -> 4: [0,3) [2,5) [4,7) [6,9)
    assert.deepEqual(Array.from(down.length), [3, 3, 3, 3]);
    assert.deepEqual(Array.from(down.index), [0, 1, 2, 2, 3, 4, 4, 5, 6, 6, 7, 8]);
    const up = adaptiveBins(3, 5); // [0,1) [0,2) [1,2) [1,3) [2,3)
    assert.deepEqual(Array.from(up.length), [1, 2, 1, 2, 1]);
    assert.deepEqual(Array.from(up.mask), [1, 0, 1, 1, 1, 0, 1, 1, 1, 0]);
  });

  test('bilinear matrix rows sum to 1 and clamp at the border (align_corners=False)', () => {
    const m = bilinearMatrix(14, 28);
    for (let o = 0; o < 28; o++) {
      let s = 0;
      for (let i = 0; i < 14; i++) s += m[o * 14 + i]!;
      assert.ok(Math.abs(s - 1) < 1e-6);
    }
    assert.equal(m[0], 1); // dst 0 -> src -0.25 clamps to 0
    assert.equal(m[1 * 14 + 0], 0.75); // dst 1 -> src 0.25
  });
});
