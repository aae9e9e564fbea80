// The prepared backbone graph on onnxruntime vs the reference's torch features (fixture ResNet18).
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { readNpyFloat32 } from '../src/io/npy.js';
import { preparedBackbonePath, resolveBackbone } from '../src/model/backbone.js';
import { InferenceRuntime } from '../src/model/inference-runtime.js';
import { decodeModel } from '../src/model/onnx-graph.js';
import { asFloat, floatTensor } from '../src/model/tensor.js';
import { assertClose, compareClose, perturbed } from './helpers/compare.js';
import { useTestCache } from './helpers/cache.js';
import { sharedPath } from './helpers/shared.js';

useTestCache();

describe('fixture ResNet18 backbone', () => {
  let runtime: InferenceRuntime;
  before(() => {
    runtime = new InferenceRuntime({ intraOpThreads: 2 });
  });
  after(() => runtime.close());

  test('layer2/layer3 match torch within atol 1e-4; a perturbed fixture fails', async (t) => {
    const onnxPath = sharedPath(t, 'fixtures', 'reference', 'backbone', 'resnet18_l2l3_seed0.onnx');
    if (!onnxPath) return;
    const dir = join(onnxPath, '..');
    const backbone = resolveBackbone(onnxPath);
    const { path } = preparedBackbonePath(backbone, ['layer2', 'layer3']);
    await runtime.load('bb', path);
    const input = readNpyFloat32(join(dir, 'input.npy'));
    const out = await runtime.run('bb', { input: floatTensor(input.data, input.shape) });
    for (const layer of ['layer2', 'layer3']) {
      const expected = readNpyFloat32(join(dir, `torch_${layer}.npy`));
      const got = asFloat(out[layer], layer);
      assert.deepEqual(got.dims, expected.shape);
      const r = assertClose(got.data, expected.data, { atol: 1e-4 }, layer);
      t.diagnostic(`${layer}: max |ORT - torch| ${r.maxAbs.toExponential(2)}`);
      assert.equal(compareClose(got.data, perturbed(expected.data, 7, 1e-3), { atol: 1e-4 }).ok, false);
    }
  });

  test('preparing for layer2 alone prunes layer3 and runs any input size', async (t) => {
    const onnxPath = sharedPath(t, 'fixtures', 'reference', 'backbone', 'resnet18_l2l3_seed0.onnx');
    if (!onnxPath) return;
    const full = decodeModel(readFileSync(onnxPath));
    const { path } = preparedBackbonePath(resolveBackbone(onnxPath), ['layer2']);
    const pruned = decodeModel(readFileSync(path));
    const convs = (m: typeof full) => m.graph!.node!.filter((n) => n.opType === 'Conv').length;
    // stem 1 + layer1 4 + layer2 5 (with downsample) = 10 of 15 convolutions; layer3's are gone.
    assert.equal(convs(full), 15);
    assert.equal(convs(pruned), 10);
    assert.deepEqual(
      pruned.graph!.output!.map((o) => o.name),
      ['layer2'],
    );
    await runtime.load('l2', path);
    const out = await runtime.run('l2', { input: floatTensor(new Float32Array(3 * 256 * 320), [1, 3, 256, 320]) });
    assert.deepEqual(out.layer2!.dims, [1, 128, 32, 40]);
  });
});
