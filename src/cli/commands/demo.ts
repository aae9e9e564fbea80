// `patchline demo`: the main job on embedded defaults. Generates textured "product" images,
// embeds them with the default backbone and prints what PatchCore sees.
import { DEFAULT_BACKBONE, modelDir, resolveBackbone } from '../../model/backbone.js';
import { ensureModel } from '../../model/fetch-model.js';
import { InferenceRuntime } from '../../model/inference-runtime.js';
import { Embedder } from '../../patchcore/embedder.js';
import { imagesToBatch } from '../../preprocess/batch.js';
import type { Image8 } from '../../preprocess/image.js';
import { cropImage, REFERENCE_RESIZE, outputSize } from '../../preprocess/transform.js';
import { texture } from '../../synth/texture.js';
import { optionalString, parseCommand, type CommandSpec } from '../args.js';

export const demoCommand: CommandSpec = {
  name: 'demo',
  summary: 'self-contained demo on generated images with the default backbone',
  usage: ['patchline demo [--model-dir DIR]'],
  options: { 'model-dir': { type: 'string', value: 'DIR', help: 'models directory (default: $PATCHLINE_MODEL_DIR or ./models)' } },
};

function demoImages(): { name: string; image: Image8 }[] {
  const web = texture({ kind: 'stripes', width: 900, height: 300, seed: 7, period: 14, angle: 0.5 });
  const defect = cropImage(web, 600, 0, 256, 256);
  // A dark scratch across the last "good" crop: the kind of defect the later stages must find.
  for (let y = 100; y < 110; y++) for (let x = 40; x < 200; x++) for (let c = 0; c < 3; c++) defect.data[(y * 256 + x) * 3 + c] = 35;
  return [
    { name: 'web crop 1', image: cropImage(web, 0, 0, 256, 256) },
    { name: 'web crop 2', image: cropImage(web, 300, 20, 256, 256) },
    { name: 'web crop 3 + scratch', image: defect },
    { name: 'other weave', image: texture({ kind: 'weave', width: 256, height: 256, seed: 8, period: 10, color: [110, 140, 150] }) },
  ];
}

export async function runDemo(argv: string[]): Promise<void> {
  const v = parseCommand(demoCommand, argv);
  if (!v) return;
  const backbone = resolveBackbone(DEFAULT_BACKBONE, modelDir(optionalString(v, 'model-dir')));
  await ensureModel(backbone, (s) => process.stderr.write(s));
  const runtime = new InferenceRuntime();
  try {
    const head = { patchsize: 3, pretrainDim: 1024, targetDim: 1024 };
    const t0 = performance.now();
    const embedder = await Embedder.create(runtime, backbone, backbone.spec.defaultLayers, head, outputSize(REFERENCE_RESIZE));
    const loadMs = performance.now() - t0;
    const items = demoImages();
    const t1 = performance.now();
    const e = await embedder.embed(imagesToBatch(items.map((i) => i.image), REFERENCE_RESIZE, backbone.spec.normalization));
    const embedMs = performance.now() - t1;
    const per = e.grid.height * e.grid.width;
    const out = process.stdout;
    out.write(`patchline demo: ${backbone.spec.name} (${backbone.onnxPath})\n`);
    out.write(`  layers ${embedder.headSpec.layers.map((l) => `${l.name} ${l.channels}x${l.height}x${l.width}`).join(', ')}\n`);
    out.write(`  patch grid ${e.grid.height}x${e.grid.width}, embedding ${e.dim} dims, ${items.length} images -> ${e.data.length / e.dim} patch vectors\n`);
    out.write(`  model load ${loadMs.toFixed(0)} ms, embedding ${(embedMs / items.length).toFixed(1)} ms per image\n`);
    out.write('  farthest patch of each image from its nearest patch in "web crop 1" (PatchCore-style distance):\n');
    for (let i = 0; i < items.length; i++) {
      out.write(`    ${items[i]!.name.padEnd(22)} ${maxNearestDistance(e.data, e.dim, per, i, 0).toFixed(2)}\n`);
    }
  } finally {
    await runtime.close();
  }
}

/** max over the patches of image `a` of the distance to the nearest patch of image `b`. */
function maxNearestDistance(data: Float32Array, dim: number, per: number, a: number, b: number): number {
  let worst = 0;
  for (let p = 0; p < per; p++) {
    const q = (a * per + p) * dim;
    let best = Infinity;
    for (let r = 0; r < per; r++) {
      const k = (b * per + r) * dim;
      let s = 0;
      for (let d = 0; d < dim && s < best; d++) s += (data[q + d]! - data[k + d]!) ** 2;
      if (s < best) best = s;
    }
    worst = Math.max(worst, Math.sqrt(best));
  }
  return worst;
}
