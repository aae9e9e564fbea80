// `patchline model fetch`: download a catalogue backbone into the models directory, sha256-checked.
import { modelDir, resolveBackbone } from '../../../model/backbone.js';
import { ensureModel } from '../../../model/fetch-model.js';
import { optionalString, parseCommand, type CommandSpec } from '../../args.js';
import { MODEL_DIR_OPTION } from '../../common-options.js';

export const modelFetchCommand: CommandSpec = {
  name: 'model fetch',
  summary: 'download a catalogue backbone into the models directory and verify its sha256',
  usage: ['patchline model fetch [NAME] [--model-dir DIR]'],
  positional: 'name',
  options: { 'model-dir': MODEL_DIR_OPTION },
};

export async function runModelFetch(argv: string[]): Promise<void> {
  const v = parseCommand(modelFetchCommand, argv);
  if (!v) return;
  const b = resolveBackbone(optionalString(v, 'name') ?? 'mobilenetv2', modelDir(optionalString(v, 'model-dir')));
  const r = await ensureModel(b, (s) => process.stderr.write(s));
  process.stdout.write(`${b.spec.name}: ${r.status} at ${r.path}\n`);
}
