// `patchline model list|inspect|fetch|check|fuse`: the backbone catalogue, layer discovery,
// downloads, export checks and the one-graph export of a bank.
import { existsSync, writeFileSync } from 'node:fs';
import { readBank } from '../../patchcore/bank-file.js';
import { Embedder } from '../../patchcore/embedder.js';
import { bankBackbone, fusedModel } from '../../patchcore/patchcore.js';
import { CATALOGUE, modelDir, preparedBackbonePath, resolveBackbone } from '../../model/backbone.js';
import { readNpyFloat32 } from '../../io/npy.js';
import { asFloat, floatTensor } from '../../model/tensor.js';
import { ensureModel } from '../../model/fetch-model.js';
import { InferenceRuntime } from '../../model/inference-runtime.js';
import { inspectModel } from '../../model/inspect.js';
import { helpText, intOption, numberOption, optionalString, parseCommand, requireString, sizeOption, UsageError, type CommandSpec } from '../args.js';
import { MODEL_DIR_OPTION } from '../common-options.js';

export const modelListCommand: CommandSpec = {
  name: 'model list',
  summary: 'list the built-in backbones, their layers and whether their files are present',
  usage: ['patchline model list [--model-dir DIR]'],
  options: { 'model-dir': MODEL_DIR_OPTION },
};

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

export const modelFetchCommand: CommandSpec = {
  name: 'model fetch',
  summary: 'download a catalogue backbone into the models directory and verify its sha256',
  usage: ['patchline model fetch [NAME] [--model-dir DIR]'],
  positional: 'name',
  options: { 'model-dir': MODEL_DIR_OPTION },
};

export const modelCheckCommand: CommandSpec = {
  name: 'model check',
  summary: 'run a backbone on a saved input and compare its layers with saved reference outputs',
  usage: ['patchline model check SPEC_OR_ONNX --input X.npy --expect layer2=Y2.npy [--expect layer3=Y3.npy] [--tolerance 1e-4]'],
  positional: 'model',
  options: {
    input: { type: 'string', value: 'X.npy', help: 'input batch [N,3,H,W] float32 (already normalised)' },
    expect: { type: 'string', multiple: true, value: 'LAYER=FILE.npy', help: 'expected output of a layer (e.g. from torch)' },
    tolerance: { type: 'string', value: 'T', default: '1e-4', help: 'largest |difference| allowed, relative to the largest |expected value| (at least 1)' },
    'model-dir': MODEL_DIR_OPTION,
  },
  notes: 'tools/export_backbone.py calls this to check an export against torch. Exit 1 when a layer differs.',
};

export const modelFuseCommand: CommandSpec = {
  name: 'model fuse',
  summary: 'write one ONNX graph for a bank: backbone + head + exact kNN + image score + anomaly map',
  usage: ['patchline model fuse --bank BANK --out FRAME.onnx [--model-dir DIR]'],
  options: {
    bank: { type: 'string', value: 'BANK', help: "bank file from 'patchline fit'" },
    out: { type: 'string', value: 'FRAME.onnx', help: 'graph to write: input [N,3,H,W] normalised images; outputs patch_scores, image_scores, anomaly_maps' },
    'model-dir': MODEL_DIR_OPTION,
  },
  notes: "What `model.fused: true` runs, as a file for other tools (e.g. trtexec on a Jetson). The bank's rows are inside: refuse to share it where the bank is confidential.",
};

const SUBCOMMANDS = { list: modelListCommand, inspect: modelInspectCommand, fetch: modelFetchCommand, check: modelCheckCommand, fuse: modelFuseCommand };

export async function runModel(argv: string[]): Promise<void> {
  const [sub, ...rest] = argv;
  if (sub === undefined || sub === '--help' || sub === '-h') {
    process.stdout.write(`patchline model: backbone tools\n\nSubcommands:\n${Object.entries(SUBCOMMANDS).map(([k, c]) => `  ${k.padEnd(8)} ${c.summary}`).join('\n')}\n\nRun 'patchline model SUBCOMMAND --help' for options.\n`);
    if (sub === undefined) throw new UsageError('patchline model: missing subcommand (list, inspect, fetch, check, fuse)');
    return;
  }
  if (sub === 'list') {
    const v = parseCommand(modelListCommand, rest);
    if (!v) return;
    const dir = modelDir(optionalString(v, 'model-dir'));
    for (const name of Object.keys(CATALOGUE)) {
      const b = resolveBackbone(name, dir);
      process.stdout.write(`${name}: ${b.onnxPath} (${existsSync(b.onnxPath) ? 'present' : "missing: run 'patchline model fetch " + name + "'"})\n`);
      for (const [layer, l] of Object.entries(b.spec.layers)) process.stdout.write(`  ${layer.padEnd(20)} stride ${l.stride ?? '?'}  ${l.description ?? ''}${b.spec.defaultLayers.includes(layer) ? '  [default]' : ''}\n`);
    }
    return;
  }
  if (sub === 'fetch') {
    const v = parseCommand(modelFetchCommand, rest);
    if (!v) return;
    const b = resolveBackbone(optionalString(v, 'name') ?? 'mobilenetv2', modelDir(optionalString(v, 'model-dir')));
    const r = await ensureModel(b, (s) => process.stderr.write(s));
    process.stdout.write(`${b.spec.name}: ${r.status} at ${r.path}\n`);
    return;
  }
  if (sub === 'inspect') {
    const cmd = modelInspectCommand;
    const v = parseCommand(cmd, rest);
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
        process.stdout.write(`${c.tensor.padEnd(28)} ${c.opType.padEnd(16)} ${c.dims.slice(1).join('x').padEnd(18)} ${String(c.stride).padEnd(6)} ${c.type}\n`);
      }
    } finally {
      await runtime.close();
    }
    return;
  }
  if (sub === 'check') {
    const cmd = modelCheckCommand;
    const v = parseCommand(cmd, rest);
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
    const { path } = preparedBackbonePath(backbone, expects.map((e) => e.layer));
    const runtime = new InferenceRuntime();
    try {
      const loaded = await runtime.load('check', path);
      const out = await runtime.run('check', { [loaded.inputNames[0]!]: floatTensor(input.data, input.shape) });
      let failed = 0;
      for (const { layer, file } of expects) {
        const want = readNpyFloat32(file);
        const got = asFloat(out[layer], layer);
        const scale = Math.max(1, want.data.reduce((m, x) => Math.max(m, Math.abs(x)), 0));
        let max = 0;
        for (let i = 0; i < want.data.length; i++) max = Math.max(max, Math.abs(got.data[i]! - want.data[i]!));
        const same = got.dims.join('x') === want.shape.join('x');
        const ok = same && max <= tolerance * scale;
        if (!ok) failed++;
        process.stdout.write(`${layer}: ${got.dims.join('x')} ${same ? '' : `(expected ${want.shape.join('x')}) `}max |diff| ${max.toExponential(2)} (limit ${(tolerance * scale).toExponential(2)}) ${ok ? 'ok' : 'DIFFERS'}\n`);
      }
      if (failed > 0) throw new Error(`${failed} layer(s) differ from the expected outputs`);
    } finally {
      await runtime.close();
    }
    return;
  }
  if (sub === 'fuse') {
    const cmd = modelFuseCommand;
    const v = parseCommand(cmd, rest);
    if (!v) return;
    const bankPath = requireString(cmd, v, 'bank');
    const out = requireString(cmd, v, 'out');
    const bank = readBank(bankPath);
    const backbone = bankBackbone(bank.manifest, { modelDir: optionalString(v, 'model-dir') });
    const runtime = new InferenceRuntime();
    try {
      const m = bank.manifest;
      const embedder = await Embedder.create(runtime, backbone, m.backbone.layers.map((l) => l.name), m.head, m.input, 'fuse');
      const bytes = await fusedModel(runtime, bank, embedder, 'fuse/frame');
      writeFileSync(out, bytes);
      process.stdout.write(`wrote ${out}: ${(bytes.length / 2 ** 20).toFixed(1)} MB, input ${embedder.inputName} [N,3,${m.input.height},${m.input.width}], outputs patch_scores [N*${embedder.grid.height * embedder.grid.width}], image_scores [N], anomaly_maps [N,${m.input.height},${m.input.width}]\n`);
    } finally {
      await runtime.close();
    }
    return;
  }
  throw new UsageError(`patchline model: unknown subcommand '${sub}' (list, inspect, fetch, check, fuse)`);
}
