// `patchline embed`: feature maps (.npy) or images -> PatchCore embedding (.npy), reference row order.
import { basename } from 'node:path';
import { readNpyFloat32, writeNpy } from '../../io/npy.js';
import { expandImageArgs } from '../../io/image-files.js';
import { InferenceRuntime } from '../../model/inference-runtime.js';
import { Embedder } from '../../patchcore/embedder.js';
import { embedFeatureMaps } from '../../patchcore/embed-features.js';
import { loadBatch } from '../../preprocess/batch.js';
import { outputSize } from '../../preprocess/transform.js';
import { intOption, parseCommand, requireString, UsageError, type CommandSpec } from '../args.js';
import { BACKBONE_OPTIONS, backboneChoice, HEAD_OPTIONS, headParams, RESIZE_OPTIONS, resizePolicy } from '../common-options.js';
import { progress } from '../progress.js';

export const embedCommand: CommandSpec = {
  name: 'embed',
  summary: 'compute PatchCore patch embeddings from saved feature maps or from images',
  usage: [
    'patchline embed --features L1.npy [L2.npy ...] --patchsize P --pretrain-dim D1 --target-dim D2 --out OUT.npy',
    'patchline embed --backbone SPEC_OR_ONNX --layers a,b --images DIR_OR_FILES... --out OUT.npy',
  ],
  options: {
    features: { type: 'string', multiple: true, value: 'L.npy', help: 'feature maps [B,C,H,W] float32; the first sets the patch grid' },
    images: { type: 'string', multiple: true, value: 'DIR_OR_FILE', help: 'image files or folders (sorted by name)' },
    out: { type: 'string', value: 'OUT.npy', help: 'output [B*H*W, target-dim] float32, rows in (image, y, x) order' },
    batch: { type: 'string', value: 'N', default: '8', help: 'images per backbone run' },
    ...BACKBONE_OPTIONS,
    ...HEAD_OPTIONS,
    ...RESIZE_OPTIONS,
  },
  notes: 'Exactly one of --features and --images. Exit code 2 on bad arguments.',
};

export async function runEmbed(argv: string[]): Promise<void> {
  const cmd = embedCommand;
  const v = parseCommand(cmd, argv);
  if (!v) return;
  const out = requireString(cmd, v, 'out');
  const features = v.features as string[] | undefined;
  const images = v.images as string[] | undefined;
  if ((features?.length ?? 0) > 0 === (images?.length ?? 0) > 0)
    throw new UsageError(`patchline embed: give exactly one of --features and --images`);
  const head = headParams(cmd, v);
  if (features && features.length > 0) {
    const maps = features.map((file, i) => {
      let a;
      try {
        a = readNpyFloat32(file);
      } catch (e) {
        throw new UsageError(`patchline embed: --features: ${(e as Error).message}`);
      }
      if (a.shape.length !== 4)
        throw new UsageError(`patchline embed: --features: ${file} has shape [${a.shape.join(',')}], expected [B,C,H,W]`);
      return {
        name: `layer${i}_${basename(file, '.npy').replace(/[^A-Za-z0-9_]/g, '_')}`,
        tensor: { type: 'float32' as const, data: a.data, dims: a.shape },
      };
    });
    const runtime = new InferenceRuntime();
    try {
      const e = await embedFeatureMaps(runtime, maps, head);
      writeNpy(out, { dtype: 'float32', shape: e.dims, data: e.data });
      process.stderr.write(`wrote ${out}: [${e.dims.join(', ')}]\n`);
    } finally {
      await runtime.close();
    }
    return;
  }
  const { backbone, layers, threads } = backboneChoice(cmd, v);
  const policy = resizePolicy(cmd, v);
  const batchSize = intOption(cmd, v, 'batch');
  let files: string[];
  try {
    files = expandImageArgs(images!);
  } catch (e) {
    throw new UsageError(`patchline embed: --images: ${(e as Error).message}`);
  }
  const runtime = new InferenceRuntime(threads ? { intraOpThreads: threads } : {});
  try {
    const embedder = await Embedder.create(runtime, backbone, layers, head, outputSize(policy));
    const rowsPerImage = embedder.grid.height * embedder.grid.width;
    const result = new Float32Array(files.length * rowsPerImage * head.targetDim);
    const bar = progress('embed', files.length, 'images');
    for (let i = 0; i < files.length; i += batchSize) {
      const chunk = files.slice(i, i + batchSize);
      const e = await embedder.embed(await loadBatch(chunk, policy, backbone.spec.normalization));
      result.set(e.data, i * rowsPerImage * head.targetDim);
      bar.tick(chunk.length);
    }
    bar.stop();
    writeNpy(out, { dtype: 'float32', shape: [files.length * rowsPerImage, head.targetDim], data: result });
    process.stderr.write(
      `wrote ${out}: [${files.length * rowsPerImage}, ${head.targetDim}] (${files.length} images, grid ${embedder.grid.height}x${embedder.grid.width})\n`,
    );
  } finally {
    await runtime.close();
  }
}
