// The CLI contract scripts rely on: --help everywhere, exit code 2 naming the bad argument,
// and `embed` producing reference-ordered embeddings from feature maps or images.
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import { readNpyFloat32, writeNpy } from '../src/io/npy.js';
import { InferenceRuntime } from '../src/model/inference-runtime.js';
import { decodeModel } from '../src/model/onnx-graph.js';
import { floatTensor } from '../src/model/tensor.js';
import { assertClose } from './helpers/compare.js';
import { runCli } from './helpers/cli.js';
import { REFERENCE_DIR, sharedPath } from './helpers/shared.js';

const out = mkdtempSync(join(tmpdir(), 'patchline-cli-'));

const cli = (...args: string[]) => runCli(join(out, 'cache'), args);

describe('patchline CLI', () => {
  test('--help works on every command and subcommand', () => {
    for (const args of [
      ['--help'],
      ['embed', '--help'],
      ['fit', '--help'],
      ['eval', '--help'],
      ['tune', '--help'],
      ['demo', '--help'],
      ['model', '--help'],
      ['model', 'inspect', '--help'],
      ['model', 'fetch', '--help'],
      ['model', 'list', '--help'],
      ['model', 'check', '--help'],
      ['model', 'fuse', '--help'],
      ['model', 'quantize', '--help'],
      ['model', 'dequantize', '--help'],
      ['run', '--help'],
      ['config', '--help'],
    ]) {
      const r = cli(...args);
      assert.equal(r.code, 0, `${args.join(' ')}: ${r.stderr}`);
      assert.match(r.stdout, /Usage|Subcommands|Commands/, args.join(' '));
    }
  });

  test('bad arguments exit 2 with a message naming the argument', () => {
    const cases: [string[], RegExp][] = [
      [['embed', '--bogus'], /--bogus/],
      [['embed', '--features', 'a.npy'], /--out is required/],
      [['embed', '--features', 'a.npy', '--out', 'o.npy', '--patchsize', '0'], /--patchsize must be an integer >= 1, got '0'/],
      [['embed', '--features', 'missing.npy', '--out', 'o.npy'], /--features: missing\.npy: cannot read/],
      [['embed', '--images', 'nowhere/', '--out', 'o.npy'], /--images: nowhere\/: no such file or folder/],
      [['embed', '--images', 'x.png', '--features', 'a.npy', '--out', 'o.npy'], /exactly one of --features and --images/],
      [['embed', '--images', 'x.png', '--out', 'o.npy', '--backbone', 'nonesuch'], /--backbone: unknown backbone 'nonesuch'/],
      [['embed', '--images', 'x.png', '--out', 'o.npy', '--layers', 'layer9'], /--layers: backbone 'mobilenetv2' has no layer 'layer9'/],
      [['embed', '--images', 'x.png', '--out', 'o.npy', '--crop', '300'], /--crop 300 is larger than --resize 256/],
      [['embed', '--images', 'x.png', '--out', 'o.npy', '--size', '12by3'], /--size must be WIDTHxHEIGHT/],
      [['model', 'inspect'], /MODEL is required/],
      [['fit', '--data', '.'], /--out is required/],
      [['fit', '--data', '.', '--out', 'b', '--coreset', '2'], /--coreset must be a number >= 0 <= 1, got '2'/],
      [['fit', '--data', '.', '--out', 'b', '--coreset-method', 'random'], /--coreset-method must be approximate, greedy or identity/],
      [['eval', '--bank', 'b'], /--data is required/],
      [['model', 'fuse', '--out', 'f.onnx'], /--bank is required/],
      [['model', 'frobnicate'], /unknown subcommand 'frobnicate'/],
      [['frobnicate'], /unknown command 'frobnicate'/],
    ];
    for (const [args, why] of cases) {
      const r = cli(...args);
      assert.equal(r.code, 2, `${args.join(' ')} -> ${r.code}: ${r.stderr}`);
      assert.match(r.stderr, why, args.join(' '));
    }
  });

  test('model fuse writes one graph per frame that onnxruntime runs: patch scores, image scores, maps', async (t) => {
    const onnx = sharedPath(t, 'fixtures', 'reference', 'backbone', 'resnet18_l2l3_seed0.onnx');
    if (!onnx) return;
    const data = join(REFERENCE_DIR, 'e2e', 'mvtec', 'synthtex');
    const bank = join(out, 'fuse.bank');
    const fit = cli(
      'fit',
      '--data',
      data,
      '--backbone',
      onnx,
      '--layers',
      'layer2,layer3',
      '--coreset',
      '0.1',
      '--holdout',
      '0',
      '--out',
      bank,
    );
    assert.equal(fit.code, 0, fit.stderr);
    const frame = join(out, 'frame.onnx');
    const r = cli('model', 'fuse', '--bank', bank, '--out', frame);
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /outputs patch_scores \[N\*784\], image_scores \[N\], anomaly_maps \[N,224,224\]/);
    const runtime = new InferenceRuntime({ intraOpThreads: 2 });
    try {
      const loaded = await runtime.load('frame', frame);
      assert.deepEqual(loaded.outputNames.sort(), ['anomaly_maps', 'image_scores', 'patch_scores']);
      const o = await runtime.run('frame', {
        [loaded.inputNames[0]!]: floatTensor(new Float32Array(2 * 3 * 224 * 224).fill(0.5), [2, 3, 224, 224]),
      });
      assert.deepEqual(o.anomaly_maps!.dims, [2, 224, 224]);
      assert.deepEqual(o.image_scores!.dims, [2]);
      assert.deepEqual(o.patch_scores!.dims, [2 * 784]);
    } finally {
      await runtime.close();
    }
  });

  test('model fuse --target tensorrt: full-product kNN, fixed batch, and a warning for every operator TensorRT will not take', async (t) => {
    const onnx = sharedPath(t, 'fixtures', 'reference', 'backbone', 'resnet18_l2l3_seed0.onnx');
    const zoo = sharedPath(t, 'models', 'mobilenetv2-12-int8.onnx');
    if (!onnx || !zoo) return;
    const data = join(REFERENCE_DIR, 'e2e', 'mvtec', 'synthtex');
    const fit = (backbone: string, layers: string, bank: string) =>
      cli(
        'fit',
        '--data',
        data,
        '--backbone',
        backbone,
        '--layers',
        layers,
        '--coreset',
        '0.1',
        '--holdout',
        '0',
        '--pretrain-dim',
        '256',
        '--target-dim',
        '256',
        '--out',
        bank,
      );
    const fp32 = join(out, 'trt-fp32.bank');
    assert.equal(fit(onnx, 'layer2,layer3', fp32).code, 0);
    const frame = join(out, 'trt-frame.onnx');
    const r = cli('model', 'fuse', '--bank', fp32, '--out', frame, '--target', 'tensorrt', '--batch', '2');
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /input \S+ \[2,3,224,224\]/);
    assert.match(r.stdout, /for tensorrt: exact kNN as the full product/);
    assert.match(r.stdout, /for tensorrt: input batch fixed at 2/);
    assert.doesNotMatch(r.stderr, /warning/, 'an fp32 ResNet18 frame has nothing TensorRT refuses');
    const graph = decodeModel(readFileSync(frame));
    assert.ok(!(graph.graph?.node ?? []).some((n) => n.opType === 'NonZero'));
    assert.equal(Number(graph.graph?.input?.[0]?.type?.tensorType?.shape?.dim?.[0]?.dimValue), 2);
    const runtime = new InferenceRuntime({ intraOpThreads: 2 });
    try {
      const loaded = await runtime.load('frame', frame);
      const o = await runtime.run('frame', {
        [loaded.inputNames[0]!]: floatTensor(new Float32Array(2 * 3 * 224 * 224).fill(0.5), [2, 3, 224, 224]),
      });
      assert.deepEqual(o.anomaly_maps!.dims, [2, 224, 224]);
    } finally {
      await runtime.close();
    }
    const int8 = join(out, 'trt-int8.bank');
    assert.equal(
      cli(
        'fit',
        '--data',
        data,
        '--model-dir',
        join(zoo, '..'),
        '--coreset',
        '0.1',
        '--holdout',
        '0',
        '--pretrain-dim',
        '256',
        '--target-dim',
        '256',
        '--out',
        int8,
      ).code,
      0,
    );
    const q = cli(
      'model',
      'fuse',
      '--bank',
      int8,
      '--model-dir',
      join(zoo, '..'),
      '--out',
      join(out, 'trt-int8.onnx'),
      '--target',
      'tensorrt',
    );
    assert.equal(q.code, 0, q.stderr);
    assert.match(q.stderr, /warning: TensorRT's ONNX parser does not take QLinearConv x\d+.*QOperator int8/);
  });

  test('model providers: the CPU loads; on this CPU-only onnxruntime TensorRT and CUDA do not, exit 1', () => {
    const r = cli('model', 'providers');
    assert.equal(r.code, 1);
    assert.match(r.stdout, /onnxruntime-node \d+\.\d+\.\d+; TensorRT options passed to TensorRT: no/);
    assert.match(r.stdout, /tensorrt +does not load: /);
    assert.match(r.stdout, /cuda +does not load: /);
    assert.match(r.stdout, /cpu +loads/);
    assert.match(r.stderr, /no accelerator loads/);
    assert.equal(cli('model', 'providers', '--providers', 'cpu').code, 0);
    assert.equal(cli('model', 'providers', '--providers', 'gpu').code, 2);
  });

  test('model check compares a backbone with saved outputs and fails on a difference', (t) => {
    const onnx = sharedPath(t, 'fixtures', 'reference', 'backbone', 'resnet18_l2l3_seed0.onnx');
    if (!onnx) return;
    const dir = join(onnx, '..');
    const ok = cli(
      'model',
      'check',
      onnx,
      '--input',
      join(dir, 'input.npy'),
      '--expect',
      `layer2=${join(dir, 'torch_layer2.npy')}`,
      '--expect',
      `layer3=${join(dir, 'torch_layer3.npy')}`,
    );
    assert.equal(ok.code, 0, ok.stderr);
    assert.match(ok.stdout, /layer2: 2x128x28x28 max \|diff\| .* ok/);
    const bad = readNpyFloat32(join(dir, 'torch_layer3.npy'));
    bad.data[100] = bad.data[100]! + 0.5;
    writeNpy(join(out, 'bad3.npy'), { dtype: 'float32', shape: bad.shape, data: bad.data });
    const r = cli('model', 'check', onnx, '--input', join(dir, 'input.npy'), '--expect', `layer3=${join(out, 'bad3.npy')}`);
    assert.equal(r.code, 1);
    assert.match(r.stdout, /layer3: .* DIFFERS/);
  });

  test('embed --features reproduces head case d (odd grid, patchsize 5, 256 -> 128)', (t) => {
    const dir = sharedPath(t, 'fixtures', 'reference', 'head', 'd_odd_grid');
    if (!dir) return;
    const dest = join(out, 'd.npy');
    const r = cli(
      'embed',
      '--features',
      join(dir, 'input_layer2.npy'),
      join(dir, 'input_layer3.npy'),
      '--patchsize',
      '5',
      '--pretrain-dim',
      '256',
      '--target-dim',
      '128',
      '--out',
      dest,
    );
    assert.equal(r.code, 0, r.stderr);
    const got = readNpyFloat32(dest);
    const want = readNpyFloat32(join(dir, 'embedding.npy'));
    assert.deepEqual(got.shape, [330, 128]);
    assertClose(got.data, want.data, { atol: 1e-6 });
  });

  test('embed --images with the fixture ResNet18 reproduces the reference bank rows of train image 000', (t) => {
    const onnx = sharedPath(t, 'fixtures', 'reference', 'backbone', 'resnet18_l2l3_seed0.onnx');
    if (!onnx) return;
    const dest = join(out, 'img.npy');
    const image = join(REFERENCE_DIR, 'e2e', 'mvtec', 'synthtex', 'train', 'good', '000.png');
    const r = cli('embed', '--backbone', onnx, '--layers', 'layer2,layer3', '--images', image, '--out', dest);
    assert.equal(r.code, 0, r.stderr);
    const got = readNpyFloat32(dest);
    assert.deepEqual(got.shape, [784, 1024]);
    assertClose(got.data, readNpyFloat32(join(REFERENCE_DIR, 'e2e', 'bank_image0.npy')).data, { atol: 1e-5, rtol: 1e-6 });
  });
});
