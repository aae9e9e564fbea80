// `patchline model quantize`: the QDQ graph it writes, the accuracy guard (feature error per
// layer, synthtex AUROCs through fit + eval against the float backbone), its refusals.
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, readdirSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import { preparedBackbonePath, resolveBackbone } from '../src/model/backbone.js';
import { decodeModel } from '../src/model/onnx-graph.js';
import { activationParams, planQuantization, quantizeWeights } from '../src/model/quantize-graph.js';
import { chooseReduceRange } from '../src/model/quantize-backbone.js';
import { FeatureError } from '../src/model/calibrate-activations.js';
import { InferenceRuntime } from '../src/model/inference-runtime.js';
import { asFloat, floatTensor } from '../src/model/tensor.js';
import { loadBatch } from '../src/preprocess/batch.js';
import { REFERENCE_RESIZE } from '../src/preprocess/transform.js';
import { referenceFitArgs, runCli } from './helpers/cli.js';
import { REFERENCE_DIR, sharedPath } from './helpers/shared.js';

const out = mkdtempSync(join(tmpdir(), 'patchline-quantize-'));
process.env.PATCHLINE_CACHE_DIR = join(out, 'cache');
const synthtex = join(REFERENCE_DIR, 'e2e', 'mvtec', 'synthtex');

const cli = (...args: string[]) => runCli(join(out, 'cache'), args);

function fitAndEval(backbone: string, name: string): { image: number; pixel: number } {
  const bank = join(out, `${name}.bank`);
  const fit = cli(...referenceFitArgs(synthtex, backbone, bank));
  assert.equal(fit.code, 0, fit.stderr);
  const report = join(out, `${name}.json`);
  const ev = cli('eval', '--bank', bank, '--data', synthtex, '--json', report);
  assert.equal(ev.code, 0, ev.stderr);
  const r = JSON.parse(readFileSync(report, 'utf8')) as { image_auroc: number; pixel_auroc: number };
  return { image: r.image_auroc, pixel: r.pixel_auroc };
}

describe('int8 quantization', () => {
  test('weights: symmetric per channel, 7-bit with reduced range; activations: 0 is exact', () => {
    const w = Float32Array.of(0.5, -1, 0.25, 0, 2, -0.1);
    const full = quantizeWeights(w, 2, false);
    assert.deepEqual(Array.from(full.values), [64, -127, 32, 0, 127, -6]);
    assert.ok(Math.abs(full.scales[0]! - 1 / 127) < 1e-9);
    const reduced = quantizeWeights(w, 2, true);
    assert.ok(Array.from(reduced.values).every((q) => q >= -63 && q <= 63));
    assert.equal(reduced.values[1], -63);
    const cpu = activationParams({ min: -1, max: 3 }, 'cpu');
    assert.equal((0 - 0) / cpu.scale + cpu.zero, cpu.zero, 'zero maps to the zero point');
    assert.ok(Math.abs(cpu.scale - 4 / 255) < 1e-9);
    assert.equal(cpu.zero, Math.round(1 / (4 / 255)));
    assert.deepEqual(activationParams({ min: 0.5, max: 2 }, 'cpu'), { scale: 2 / 255, zero: 0 }, 'the range is widened to hold 0');
    assert.deepEqual(activationParams({ min: -3, max: 1 }, 'tensorrt'), { scale: 3 / 127, zero: 0 });
  });

  test('weight range: 7-bit only on x86 CPUs without VNNI', () => {
    if (process.arch === 'x64') {
      assert.equal(chooseReduceRange('cpu', ' fpu sse avx2 fma').reduceRange, true);
      assert.match(chooseReduceRange('cpu', ' avx2 avx512_vnni').why, /avx512_vnni/);
      assert.equal(chooseReduceRange('cpu', ' avx2 avx_vnni').reduceRange, false);
    }
    assert.equal(chooseReduceRange('tensorrt', ' avx2').reduceRange, false);
  });

  test('fixture ResNet18: QDQ graph, feature error per layer, synthtex AUROCs within 0.01 of fp32 through fit + eval', (t) => {
    const onnx = sharedPath(t, 'fixtures', 'reference', 'backbone', 'resnet18_l2l3_seed0.onnx');
    if (!onnx) return;
    const int8 = join(out, 'resnet18-int8.onnx');
    const q = cli('model', 'quantize', onnx, '--layers', 'layer2,layer3', '--calibration', join(synthtex, 'train', 'good'), '--out', int8);
    assert.equal(q.code, 0, q.stderr);
    const errors = [...q.stdout.matchAll(/^ {2}(layer[23]): (\d\.\d{4})$/gm)].map((m) => [m[1], Number(m[2])] as const);
    assert.deepEqual(
      errors.map((e) => e[0]),
      ['layer2', 'layer3'],
      q.stdout,
    );
    for (const [layer, e] of errors) assert.ok(e > 0 && e < 0.1, `${layer}: relative error ${e}`);
    assert.match(q.stdout, /15 convolutions/);
    assert.match(q.stdout, /calibration: 10 images, minmax/);

    const graph = decodeModel(readFileSync(int8));
    const ops = (graph.graph?.node ?? []).map((n) => n.opType);
    assert.equal(ops.filter((o) => o === 'Conv').length, 15);
    assert.ok(ops.filter((o) => o === 'QuantizeLinear').length >= 15, 'every convolution input is quantized');
    const outputs = new Set((graph.graph?.output ?? []).map((o) => o.name));
    const relus = (graph.graph?.node ?? []).filter((n) => n.opType === 'Relu');
    assert.ok(
      relus.every((n) => outputs.has(n.output?.[0])),
      'ReLUs after convolutions are folded into uint8 quantization, except those that give a feature layer',
    );
    const inits = new Map((graph.graph?.initializer ?? []).map((i) => [i.name, i]));
    for (const n of graph.graph?.node ?? []) {
      if (n.opType !== 'Conv') continue;
      const w = (graph.graph?.node ?? []).find((d) => d.output?.[0] === n.input?.[1]);
      assert.equal(w?.opType, 'DequantizeLinear', `${n.name}: weights behind DequantizeLinear`);
      assert.equal(inits.get(w!.input![0]!)?.dataType, 3, `${n.name}: int8 weights`);
    }
    const spec = JSON.parse(readFileSync(join(out, 'resnet18-int8.json'), 'utf8'));
    assert.deepEqual(spec.defaultLayers, ['layer2', 'layer3']);
    assert.equal(spec.onnx, 'resnet18-int8.onnx');
    assert.equal(spec.derivedFrom.calibration.images, 10);
    const prepared = preparedBackbonePath(resolveBackbone(join(out, 'resnet18-int8.json')), ['layer2', 'layer3']);
    assert.equal(prepared.explicitInt8, true, 'TensorRT is given its INT8 flag for this graph');

    const fp32 = fitAndEval(onnx, 'fp32');
    const quantized = fitAndEval(join(out, 'resnet18-int8.json'), 'int8');
    t.diagnostic(`synthtex fp32 image ${fp32.image} pixel ${fp32.pixel}; int8 image ${quantized.image} pixel ${quantized.pixel}`);
    assert.ok(Math.abs(quantized.image - fp32.image) <= 0.01, `image AUROC ${quantized.image} vs ${fp32.image}`);
    assert.ok(Math.abs(quantized.pixel - fp32.pixel) <= 0.01, `pixel AUROC ${quantized.pixel} vs ${fp32.pixel}`);
  });

  test('refusals: feature error above --max-error (nothing written), an int8 backbone, bad arguments', (t) => {
    const onnx = sharedPath(t, 'fixtures', 'reference', 'backbone', 'resnet18_l2l3_seed0.onnx');
    const zoo = sharedPath(t, 'models', 'mobilenetv2-12-int8.onnx');
    if (!onnx || !zoo) return;
    const strict = join(out, 'strict.onnx');
    const r = cli(
      'model',
      'quantize',
      onnx,
      '--layers',
      'layer2,layer3',
      '--calibration',
      join(synthtex, 'train', 'good'),
      '--images',
      '3',
      '--max-error',
      '0.0001',
      '--out',
      strict,
    );
    assert.equal(r.code, 2, r.stderr);
    assert.match(r.stderr, /refused, nothing written: feature error above --max-error 0\.0001 in layer2 \(0\.\d{4}\), layer3 \(0\.\d{4}\)/);
    assert.match(r.stdout, /layer2: 0\.\d{4} {2}above --max-error/);
    assert.ok(!existsSync(strict) && !existsSync(join(out, 'strict.json')));

    const z = cli(
      'model',
      'quantize',
      'mobilenetv2',
      '--model-dir',
      join(zoo, '..'),
      '--calibration',
      join(synthtex, 'train', 'good'),
      '--out',
      join(out, 'z.onnx'),
    );
    assert.equal(z.code, 2);
    assert.match(
      z.stderr,
      /mobilenetv2-12-int8\.onnx: the backbone is already quantized \(.*DequantizeLinear x\d+.*\); quantize its float source/,
    );

    const bad = (args: string[], why: RegExp) => {
      const b = cli('model', 'quantize', onnx, '--layers', 'layer2', '--calibration', join(synthtex, 'train', 'good'), ...args);
      assert.equal(b.code, 2, args.join(' '));
      assert.match(b.stderr, why);
    };
    bad(['--out', join(out, 'x.bin')], /--out must end in \.onnx/);
    bad(['--out', join(out, 'x.onnx'), '--method', 'kl'], /--method must be minmax or percentile, got 'kl'/);
    bad(['--out', join(out, 'x.onnx'), '--target', 'gpu'], /--target must be cpu or tensorrt/);
    bad(['--out', join(out, 'nowhere', 'x.onnx')], /--out: folder .*nowhere does not exist/);
  });

  test('model dequantize: the zoo MobileNetV2 rebuilt in float gives its features; re-quantized for TensorRT it runs with int8 activations', async (t) => {
    const zoo = sharedPath(t, 'models', 'mobilenetv2-12-int8.onnx');
    if (!zoo) return;
    const layers = ['features.6', 'features.13'];
    const fp32 = join(out, 'mnv2-fp32.onnx');
    const d = cli('model', 'dequantize', 'mobilenetv2', '--model-dir', join(zoo, '..'), '--layers', layers.join(','), '--out', fp32);
    assert.equal(d.code, 0, d.stderr);
    const rebuilt = decodeModel(readFileSync(fp32));
    const ops = new Set((rebuilt.graph?.node ?? []).map((n) => n.opType));
    for (const op of ['QLinearConv', 'QuantizeLinear', 'DequantizeLinear', 'QLinearAdd']) assert.ok(!ops.has(op), `no ${op} left`);

    const images = readdirSync(join(synthtex, 'train', 'good'))
      .slice(0, 4)
      .map((f) => join(synthtex, 'train', 'good', f));
    const runtime = new InferenceRuntime();
    try {
      const features = async (spec: string) => {
        const prepared = preparedBackbonePath(resolveBackbone(spec, join(zoo, '..')), layers);
        await runtime.load(spec, prepared.path);
        const b = await loadBatch(images, REFERENCE_RESIZE, resolveBackbone(spec, join(zoo, '..')).spec.normalization);
        const r = await runtime.run(spec, { [prepared.inputName]: floatTensor(b.data, b.dims) });
        return layers.map((l) => asFloat(r[l], l).data);
      };
      const q = await features('mobilenetv2');
      const f = await features(join(out, 'mnv2-fp32.json'));
      for (const [i, layer] of layers.entries()) {
        const e = new FeatureError();
        e.add(q[i]!, f[i]!);
        t.diagnostic(`${layer}: zoo int8 vs float rebuild, relative difference ${e.relative.toFixed(4)}`);
        // The zoo's own int8 rounding (hard on MobileNetV2's depthwise convolutions) moves its features by 0.16 (features.6) and 0.20 (features.13) relative on
        // these images with VNNI int8 kernels, 0.17 and 0.25 on a CPU without them (onnxruntime's other int8 path): the bound sits above both, far below
        // what a rebuild that computes something else gives (order 1).
        assert.ok(e.relative < 0.3, `${layer}: ${e.relative}`);
      }
    } finally {
      await runtime.close();
    }

    const trt = join(out, 'mnv2-trt.onnx');
    const r = cli(
      'model',
      'quantize',
      join(out, 'mnv2-fp32.json'),
      '--calibration',
      join(synthtex, 'train', 'good'),
      '--images',
      '4',
      '--target',
      'tensorrt',
      // Measured here on the CPU's int8 kernels (the error TensorRT would see is not): 0.15-0.22
      // with VNNI, 0.30-0.31 without; this step checks the graph TensorRT gets, not its accuracy.
      '--max-error',
      '0.4',
      '--out',
      trt,
    );
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /quantized for tensorrt; 8-bit weights: TensorRT/);
    const g = decodeModel(readFileSync(trt));
    const initializers = new Map((g.graph?.initializer ?? []).map((i) => [i.name, i]));
    const activationZeros = (g.graph?.node ?? []).filter((n) => n.opType === 'QuantizeLinear').map((n) => initializers.get(n.input?.[2]));
    assert.ok(activationZeros.length > 0, 'activations are quantized');
    for (const z of activationZeros) {
      assert.equal(z?.dataType, 3, `${z?.name}: activations are int8, as TensorRT takes them`);
      assert.equal(z?.int32Data?.length ? z.int32Data[0] : (z?.rawData?.[0] ?? 0), 0, `${z?.name}: symmetric (zero point 0)`);
    }
    assert.equal(preparedBackbonePath(resolveBackbone(join(out, 'mnv2-trt.json')), layers).explicitInt8, true);
  });

  test('a graph with nothing to quantize, or already quantized, is refused by the planner', () => {
    assert.throws(() => planQuantization(new Uint8Array(), { target: 'cpu', reduceRange: false }), /no graph/);
  });
});
