// `patchline model inspect`: candidate feature tensors of any ONNX backbone with shapes and strides.
import { modelDir, resolveBackbone } from '../../../model/backbone.js';
import { InferenceRuntime } from '../../../model/inference-runtime.js';
import { inspectModel } from '../../../model/inspect.js';
import { helpText, intOption, optionalString, parseCommand, sizeOption, UsageError, type CommandSpec } from '../../args.js';
import { MODEL_DIR_OPTION } from '../../common-options.js';

export const modelInspectCommand: CommandSpec = {
  name: 'model inspect',
  summary: 'list candidate feature tensors of an ONNX backbone with shapes and strides',
  usage: ['patchline model inspect MODEL.onnx|NAME [--size 224] [--stride 8] [--json]'],
  positional: 'model',
  options: {
    size: { type: 'string', value: 'WxH', default: '224', help: 'input size to probe' },
    stride: { type: 'string', value: 'S', help: 'only tensors at this stride' },
    json: { type: 'boolean', help: 'print JSON instead of a table' },
    'model-dir': MODEL_DIR_OPTION,
  },
  notes: 'Use a tensor name in a backbone spec\'s "layers", or directly in --layers with a bare .onnx.',
};

export async function runModelInspect(argv: string[]): Promise<void> {
  const cmd = modelInspectCommand;
  const v = parseCommand(cmd, argv);
  if (!v) return;
  const model = optionalString(v, 'model');
  if (!model) throw new UsageError(`patchline model inspect: MODEL is required\n\n${helpText(cmd)}`);
  const size = sizeOption(cmd, v, 'size');
  const stride = v.stride !== undefined ? intOption(cmd, v, 'stride') : undefined;
  let path: string;
  try {
    path = resolveBackbone(model, modelDir(optionalString(v, 'model-dir'))).onnxPath;
  } catch (e) {
    throw new UsageError(`patchline model inspect: MODEL: ${(e as Error).message}`);
  }
  const runtime = new InferenceRuntime();
  try {
    const found = (await inspectModel(runtime, path, size)).filter((c) => stride === undefined || c.stride === stride);
    if (v.json) {
      process.stdout.write(`${JSON.stringify(found, null, 2)}\n`);
      return;
    }
    process.stdout.write(`${path} at ${size.width}x${size.height}: ${found.length} feature tensors\n`);
    process.stdout.write(`${'tensor'.padEnd(28)} ${'op'.padEnd(16)} ${'shape'.padEnd(18)} ${'stride'.padEnd(6)} type\n`);
    for (const c of found) {
      process.stdout.write(
        `${c.tensor.padEnd(28)} ${c.opType.padEnd(16)} ${c.dims.slice(1).join('x').padEnd(18)} ${String(c.stride).padEnd(6)} ${c.type}\n`,
      );
    }
  } finally {
    await runtime.close();
  }
}
