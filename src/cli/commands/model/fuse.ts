// `patchline model fuse`: one ONNX graph for a bank (backbone + head + exact kNN + image score + map).
import { writeFileSync } from 'node:fs';
import { InferenceRuntime } from '../../../model/inference-runtime.js';
import { readBank } from '../../../patchcore/bank-file.js';
import { Embedder } from '../../../patchcore/embedder.js';
import { fusedModel, type FuseTarget } from '../../../patchcore/fused-model.js';
import { bankBackbone } from '../../../patchcore/patchcore.js';
import { intOption, optionalString, parseCommand, requireString, UsageError, type CommandSpec } from '../../args.js';
import { MODEL_DIR_OPTION } from '../../common-options.js';

export const modelFuseCommand: CommandSpec = {
  name: 'model fuse',
  summary: 'write one ONNX graph for a bank: backbone + head + exact kNN + image score + anomaly map',
  usage: ['patchline model fuse --bank BANK --out FRAME.onnx [--target cpu|tensorrt] [--batch N] [--model-dir DIR]'],
  options: {
    bank: { type: 'string', value: 'BANK', help: "bank file from 'patchline fit'" },
    out: {
      type: 'string',
      value: 'FRAME.onnx',
      help: 'graph to write: input [N,3,H,W] normalised images; outputs patch_scores, image_scores, anomaly_maps',
    },
    target: {
      type: 'string',
      value: 'T',
      default: 'cpu',
      help: 'cpu, or tensorrt: kNN as the full product (fixed shapes), and a warning for every operator TensorRT will not take',
    },
    batch: { type: 'string', value: 'N', help: 'fix the batch size of the input (default: dynamic; trtexec then needs --shapes)' },
    'model-dir': MODEL_DIR_OPTION,
  },
  notes:
    "What `model.fused: true` runs, as a file for other tools (e.g. trtexec on a Jetson). The bank's rows are inside: refuse to share it where the bank is confidential.",
};

export async function runModelFuse(argv: string[]): Promise<void> {
  const cmd = modelFuseCommand;
  const v = parseCommand(cmd, argv);
  if (!v) return;
  const bankPath = requireString(cmd, v, 'bank');
  const out = requireString(cmd, v, 'out');
  const target = String(v.target) as FuseTarget;
  if (target !== 'cpu' && target !== 'tensorrt')
    throw new UsageError(`patchline model fuse: --target must be cpu or tensorrt, got '${target}'`);
  const batch = v.batch !== undefined ? intOption(cmd, v, 'batch') : undefined;
  const bank = await readBank(bankPath);
  const backbone = bankBackbone(bank.manifest, { modelDir: optionalString(v, 'model-dir') });
  const runtime = new InferenceRuntime({ executionProviders: ['cpu'] });
  try {
    const m = bank.manifest;
    const embedder = await Embedder.forBank(runtime, backbone, m, 'fuse', { probe: true });
    const frame = await fusedModel(runtime, bank, embedder, 'fuse/frame', { target, ...(batch !== undefined ? { batch } : {}) });
    writeFileSync(out, frame.bytes);
    const n = batch ?? 'N';
    process.stdout.write(
      `wrote ${out}: ${(frame.bytes.length / 2 ** 20).toFixed(1)} MB, input ${embedder.inputName} [${n},3,${m.input.height},${m.input.width}], outputs patch_scores [${n}*${embedder.grid.height * embedder.grid.width}], image_scores [${n}], anomaly_maps [${n},${m.input.height},${m.input.width}]\n`,
    );
    for (const note of frame.notes) process.stdout.write(`  for ${target}: ${note}\n`);
    for (const w of frame.warnings) process.stderr.write(`warning: ${w}\n`);
  } finally {
    await runtime.close();
  }
}
