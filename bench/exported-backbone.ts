// Benchmarks need real-sized backbones: export them with tools/export_backbone.py (random
// weights, Debian's torch) once into .cache/bench-models.
import { execFileSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { join, resolve } from 'node:path';

export const BENCH_MODEL_DIR = resolve(process.env.PATCHLINE_BENCH_MODELS ?? '.cache/bench-models');
export const TORCH_PYTHON = process.env.PATCHLINE_TORCH_PYTHON ?? '/usr/bin/python3';

/** Path of `<arch>-random.backbone.json`, exporting it first when missing; undefined without torch. */
export function exportedBackbone(arch: string, layers?: string): string | undefined {
  const spec = join(BENCH_MODEL_DIR, `${arch}-random.backbone.json`);
  if (existsSync(spec)) return spec;
  try {
    execFileSync(TORCH_PYTHON, ['-c', 'import torch, torchvision, onnx'], { stdio: 'ignore' });
  } catch {
    process.stderr.write(
      `!!! ${TORCH_PYTHON} has no torch/torchvision/onnx (apt-get install python3-torch python3-torchvision python3-onnx): ${arch} benchmarks skipped\n`,
    );
    return undefined;
  }
  process.stderr.write(`exporting ${arch} with random weights into ${BENCH_MODEL_DIR} ...\n`);
  execFileSync(
    TORCH_PYTHON,
    ['tools/export_backbone.py', '--arch', arch, '--random-weights', '--out', BENCH_MODEL_DIR, ...(layers ? ['--layers', layers] : [])],
    { stdio: ['ignore', 'ignore', 'inherit'] },
  );
  return spec;
}
