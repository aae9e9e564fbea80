// `patchline model check`: a backbone on a saved input, compared layer by layer with saved reference outputs.
import { modelDir, preparedBackbonePath, resolveBackbone } from '../../../model/backbone.js';
import { readNpyFloat32 } from '../../../io/npy.js';
import { asFloat, floatTensor } from '../../../model/tensor.js';
import { InferenceRuntime } from '../../../model/inference-runtime.js';
import { numberOption, optionalString, parseCommand, requireString, UsageError, type CommandSpec } from '../../args.js';
import { MODEL_DIR_OPTION } from '../../common-options.js';

export const modelCheckCommand: CommandSpec = {
  name: 'model check',
  summary: 'run a backbone on a saved input and compare its layers with saved reference outputs',
  usage: ['patchline model check SPEC_OR_ONNX --input X.npy --expect layer2=Y2.npy [--expect layer3=Y3.npy] [--tolerance 1e-4]'],
  positional: 'model',
  options: {
    input: { type: 'string', value: 'X.npy', help: 'input batch [N,3,H,W] float32 (already normalised)' },
    expect: { type: 'string', multiple: true, value: 'LAYER=FILE.npy', help: 'expected output of a layer (e.g. from torch)' },
    tolerance: {
      type: 'string',
      value: 'T',
      default: '1e-4',
      help: 'largest |difference| allowed, relative to the largest |expected value| (at least 1)',
    },
    'model-dir': MODEL_DIR_OPTION,
  },
  notes: 'tools/export_backbone.py calls this to check an export against torch. Exit 1 when a layer differs.',
};

export async function runModelCheck(argv: string[]): Promise<void> {
  const cmd = modelCheckCommand;
  const v = parseCommand(cmd, argv);
  if (!v) return;
  const model = optionalString(v, 'model');
  if (!model) throw new UsageError('patchline model check: SPEC_OR_ONNX is required');
  const expects = ((v.expect as string[] | undefined) ?? []).map((e) => {
    const [layer, file] = e.split('=');
    if (!layer || !file) throw new UsageError(`patchline model check: --expect '${e}' must be LAYER=FILE.npy`);
    return { layer, file };
  });
  if (expects.length === 0) throw new UsageError('patchline model check: give at least one --expect LAYER=FILE.npy');
  const tolerance = numberOption(cmd, v, 'tolerance', { min: 0 });
  let backbone;
  try {
    backbone = resolveBackbone(model, modelDir(optionalString(v, 'model-dir')));
  } catch (e) {
    throw new UsageError(`patchline model check: ${(e as Error).message}`);
  }
  const input = readNpyFloat32(requireString(cmd, v, 'input'));
  const { path } = preparedBackbonePath(
    backbone,
    expects.map((e) => e.layer),
  );
  const runtime = new InferenceRuntime();
  try {
    const loaded = await runtime.load('check', path);
    const out = await runtime.run('check', { [loaded.inputNames[0]!]: floatTensor(input.data, input.shape) });
    let failed = 0;
    for (const { layer, file } of expects) {
      const want = readNpyFloat32(file);
      const got = asFloat(out[layer], layer);
      const scale = Math.max(
        1,
        want.data.reduce((m, x) => Math.max(m, Math.abs(x)), 0),
      );
      let max = 0;
      for (let i = 0; i < want.data.length; i++) max = Math.max(max, Math.abs(got.data[i]! - want.data[i]!));
      const same = got.dims.join('x') === want.shape.join('x');
      const ok = same && max <= tolerance * scale;
      if (!ok) failed++;
      process.stdout.write(
        `${layer}: ${got.dims.join('x')} ${same ? '' : `(expected ${want.shape.join('x')}) `}max |diff| ${max.toExponential(2)} (limit ${(tolerance * scale).toExponential(2)}) ${ok ? 'ok' : 'DIFFERS'}\n`,
      );
    }
    if (failed > 0) throw new Error(`${failed} layer(s) differ from the expected outputs`);
  } finally {
    await runtime.close();
  }
}
