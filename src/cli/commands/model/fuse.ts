// `patchline model fuse`: one ONNX graph for a bank (backbone + head + exact kNN + image score + map).
import { writeFileSync } from 'node:fs';
import { readBank } from '../../../patchcore/bank-file.js';
import { Embedder } from '../../../patchcore/embedder.js';
import { bankBackbone, fusedModel } from '../../../patchcore/patchcore.js';
import { InferenceRuntime } from '../../../model/inference-runtime.js';
import { optionalString, parseCommand, requireString, type CommandSpec } from '../../args.js';
import { MODEL_DIR_OPTION } from '../../common-options.js';

export const modelFuseCommand: CommandSpec = {
  name: 'model fuse',
  summary: 'write one ONNX graph for a bank: backbone + head + exact kNN + image score + anomaly map',
  usage: ['patchline model fuse --bank BANK --out FRAME.onnx [--model-dir DIR]'],
  options: {
    bank: { type: 'string', value: 'BANK', help: "bank file from 'patchline fit'" },
    out: {
      type: 'string',
      value: 'FRAME.onnx',
      help: 'graph to write: input [N,3,H,W] normalised images; outputs patch_scores, image_scores, anomaly_maps',
    },
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
  const bank = await readBank(bankPath);
  const backbone = bankBackbone(bank.manifest, { modelDir: optionalString(v, 'model-dir') });
  const runtime = new InferenceRuntime();
  try {
    const m = bank.manifest;
    const embedder = await Embedder.forBank(runtime, backbone, m, 'fuse');
    const bytes = await fusedModel(runtime, bank, embedder, 'fuse/frame');
    writeFileSync(out, bytes);
    process.stdout.write(
      `wrote ${out}: ${(bytes.length / 2 ** 20).toFixed(1)} MB, input ${embedder.inputName} [N,3,${m.input.height},${m.input.width}], outputs patch_scores [N*${embedder.grid.height * embedder.grid.width}], image_scores [N], anomaly_maps [N,${m.input.height},${m.input.width}]\n`,
    );
  } finally {
    await runtime.close();
  }
}
