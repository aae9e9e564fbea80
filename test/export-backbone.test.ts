// tools/export_backbone.py with random weights on Debian's torch: the ONNX it writes, read
// through patchline's backbone path, gives torch's features; its spec loads as a backbone.
import assert from 'node:assert/strict';
import { execFileSync, spawnSync } from 'node:child_process';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { readNpyFloat32 } from '../src/io/npy.js';
import { preparedBackbonePath, resolveBackbone } from '../src/model/backbone.js';
import { InferenceRuntime } from '../src/model/inference-runtime.js';
import { asFloat, floatTensor } from '../src/model/tensor.js';
import { assertClose } from './helpers/compare.js';
import { useTestCache } from './helpers/cache.js';
import { PROJECT_ROOT } from './helpers/shared.js';

useTestCache();
const PYTHON = process.env.PATCHLINE_TORCH_PYTHON ?? '/usr/bin/python3';
const haveTorch = spawnSync(PYTHON, ['-c', 'import torch, torchvision, onnx'], { stdio: 'ignore' }).status === 0;
if (!haveTorch)
  process.stderr.write(
    `\n!!! SKIPPED: ${PYTHON} lacks torch/torchvision/onnx (apt-get install python3-torch python3-torchvision python3-onnx): export tests do not run\n`,
  );

describe('tools/export_backbone.py (random weights)', { skip: !haveTorch }, () => {
  let runtime: InferenceRuntime;
  const out = mkdtempSync(join(tmpdir(), 'patchline-export-'));
  before(() => {
    runtime = new InferenceRuntime({ intraOpThreads: 2 });
  });
  after(() => runtime.close());

  for (const [arch, shapes] of [
    ['resnet18', { layer2: [1, 128, 28, 28], layer3: [1, 256, 14, 14] }],
    ['wideresnet50', { layer2: [1, 512, 28, 28], layer3: [1, 1024, 14, 14] }],
  ] as const) {
    test(`${arch}: ONNX + spec; onnxruntime through the spec matches torch (max |diff| < 1e-4 of the feature range)`, async () => {
      const printed = execFileSync(
        PYTHON,
        [join(PROJECT_ROOT, 'tools', 'export_backbone.py'), '--arch', arch, '--random-weights', '--out', out],
        { encoding: 'utf8', cwd: PROJECT_ROOT },
      );
      const info = JSON.parse(printed.trim().split('\n').at(-1)!);
      assert.deepEqual(info.layers, shapes);
      assert.equal(info.checked, true, 'the tool checked its export in onnxruntime through patchline model check');
      const backbone = resolveBackbone(info.spec);
      assert.deepEqual(backbone.spec.defaultLayers, ['layer2', 'layer3']);
      const { path } = preparedBackbonePath(backbone, ['layer2', 'layer3']);
      await runtime.load(arch, path);
      const x = readNpyFloat32(join(out, `${arch}-random.check_input.npy`));
      const got = await runtime.run(arch, { input: floatTensor(x.data, x.shape) });
      for (const layer of ['layer2', 'layer3']) {
        const want = readNpyFloat32(join(out, `${arch}-random.check_${layer}.npy`));
        // float32 differences grow with depth (WRN50: 30 convolutions): tolerance relative to the feature range.
        const scale = want.data.reduce((m, v) => Math.max(m, Math.abs(v)), 0);
        const r = assertClose(
          asFloat(got[layer], layer).data,
          want.data,
          { atol: 1e-5 * Math.max(1, scale), rtol: 1e-4 },
          `${arch} ${layer}`,
        );
        assert.ok(r.maxAbs < 1e-4 * Math.max(1, scale), `${arch} ${layer}: max |diff| ${r.maxAbs} for features up to ${scale}`);
      }
    });
  }
});
