// int8 backbones from `patchline model quantize` against their float graphs: backbone-only time
// per frame (1x224, interleaved repetitions, median and p10-p90) and the feature error the
// quantizer reports. WRN50 is the random-weight export (speed does not depend on the weights);
// MobileNetV2 is the float rebuild of the zoo int8 model re-quantized by patchline.
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { preparedBackbonePath, resolveBackbone } from '../src/model/backbone.js';
import { InferenceRuntime } from '../src/model/inference-runtime.js';
import { floatTensor } from '../src/model/tensor.js';
import { BENCH_MODEL_DIR, exportedBackbone } from './exported-backbone.js';
import { median, percentile, type BenchRow } from './stats.js';

const SHARED = process.env.PATCHLINE_SHARED_DIR ?? '../shared';
const CALIBRATION = join(SHARED, 'datasets', 'magnetic-tile', 'train', 'good');

function cli(args: string[]): { ok: boolean; stdout: string; stderr: string } {
  const r = spawnSync(process.execPath, ['bin/patchline.js', ...args], { encoding: 'utf8' });
  return { ok: r.status === 0, stdout: r.stdout, stderr: r.stderr };
}

/** `<name>-int8.json` in the bench models folder, quantized on Magnetic Tile's good images once. */
export function quantizedBackbone(source: string, layers: string[], name: string): string | undefined {
  const spec = join(BENCH_MODEL_DIR, `${name}-int8.json`);
  if (existsSync(spec)) return spec;
  if (!existsSync(CALIBRATION)) {
    process.stderr.write(`!!! ${CALIBRATION} not found: int8 ${name} skipped\n`);
    return undefined;
  }
  process.stderr.write(`quantizing ${name} into ${BENCH_MODEL_DIR} ...\n`);
  const q = cli([
    'model',
    'quantize',
    source,
    '--layers',
    layers.join(','),
    '--calibration',
    CALIBRATION,
    '--images',
    '32',
    '--out',
    join(BENCH_MODEL_DIR, `${name}-int8.onnx`),
  ]);
  if (!q.ok) {
    process.stderr.write(`!!! quantizing ${name} failed: ${q.stderr}\n`);
    return undefined;
  }
  process.stderr.write(q.stdout);
  return spec;
}

function mobileNetFloat(): string | undefined {
  const spec = join(BENCH_MODEL_DIR, 'mobilenetv2-fp32.json');
  if (existsSync(spec)) return spec;
  const r = cli(['model', 'dequantize', 'mobilenetv2', '--out', join(BENCH_MODEL_DIR, 'mobilenetv2-fp32.onnx')]);
  if (!r.ok) {
    process.stderr.write(`!!! the float rebuild of mobilenetv2 failed: ${r.stderr}\n`);
    return undefined;
  }
  return spec;
}

/** Backbone-only times of several graphs on the same input, interleaved. */
async function interleaved(graphs: Record<string, { spec: string; layers: string[] }>, reps: number): Promise<Record<string, number[]>> {
  const runtime = new InferenceRuntime();
  try {
    const input = new Float32Array(3 * 224 * 224).map((_, i) => Math.sin(i * 12.9898) * 1.5);
    const names: Record<string, string> = {};
    for (const [name, g] of Object.entries(graphs)) {
      const prepared = preparedBackbonePath(resolveBackbone(g.spec), g.layers);
      await runtime.load(name, prepared.path);
      names[name] = prepared.inputName;
    }
    const times: Record<string, number[]> = Object.fromEntries(Object.keys(graphs).map((n) => [n, []]));
    const once = (name: string) => runtime.run(name, { [names[name]!]: floatTensor(input.slice(), [1, 3, 224, 224]) });
    for (const name of Object.keys(graphs)) for (let i = 0; i < 3; i++) await once(name);
    for (let i = 0; i < reps; i++) {
      for (const name of Object.keys(graphs)) {
        const t = performance.now();
        await once(name);
        times[name]!.push(performance.now() - t);
      }
    }
    return times;
  } finally {
    await runtime.close();
  }
}

const spread = (xs: number[]) => `ms (median; p10-p90 ${percentile(xs, 10).toFixed(1)}-${percentile(xs, 90).toFixed(1)})`;

export async function quantizeBenchmark(onRow: (r: BenchRow) => void): Promise<BenchRow[]> {
  const rows: BenchRow[] = [];
  const add = (r: BenchRow) => {
    rows.push(r);
    onRow(r);
  };
  const pairs: { label: string; float: string | undefined; layers: string[]; name: string }[] = [
    { label: 'WRN50 layer2+3', float: exportedBackbone('wideresnet50'), layers: ['layer2', 'layer3'], name: 'wideresnet50' },
    { label: 'MobileNetV2 features.13+16', float: mobileNetFloat(), layers: ['features.13', 'features.16'], name: 'mobilenetv2' },
  ];
  for (const p of pairs) {
    if (!p.float) continue;
    const int8 = quantizedBackbone(p.float, p.layers, p.name);
    if (!int8) continue;
    const graphs: Record<string, { spec: string; layers: string[] }> = {
      fp32: { spec: p.float, layers: p.layers },
      int8: { spec: int8, layers: p.layers },
    };
    if (p.name === 'mobilenetv2' && existsSync(join(process.env.PATCHLINE_MODEL_DIR ?? 'models', 'mobilenetv2-12-int8.onnx')))
      graphs.zoo = { spec: 'mobilenetv2', layers: p.layers };
    const t = await interleaved(graphs, 30);
    add({ name: `${p.label} fp32 backbone, 1x224`, value: median(t.fp32!), unit: spread(t.fp32!) });
    add({ name: `${p.label} int8 backbone (patchline model quantize), 1x224`, value: median(t.int8!), unit: spread(t.int8!) });
    if (t.zoo) add({ name: `${p.label} zoo int8 (QOperator) backbone, 1x224`, value: median(t.zoo), unit: spread(t.zoo) });
    add({ name: `${p.label} speed-up int8 / fp32`, value: median(t.fp32!) / median(t.int8!), unit: 'x (median ratio)' });
  }
  return rows;
}
