// `patchline model list`: the built-in backbones, their layers and whether their files are present.
import { existsSync } from 'node:fs';
import { CATALOGUE, modelDir, resolveBackbone } from '../../../model/backbone.js';
import { optionalString, parseCommand, type CommandSpec } from '../../args.js';
import { MODEL_DIR_OPTION } from '../../common-options.js';

export const modelListCommand: CommandSpec = {
  name: 'model list',
  summary: 'list the built-in backbones, their layers and whether their files are present',
  usage: ['patchline model list [--model-dir DIR]'],
  options: { 'model-dir': MODEL_DIR_OPTION },
};

export async function runModelList(argv: string[]): Promise<void> {
  const v = parseCommand(modelListCommand, argv);
  if (!v) return;
  const dir = modelDir(optionalString(v, 'model-dir'));
  for (const name of Object.keys(CATALOGUE)) {
    const b = resolveBackbone(name, dir);
    process.stdout.write(
      `${name}: ${b.onnxPath} (${existsSync(b.onnxPath) ? 'present' : "missing: run 'patchline model fetch " + name + "'"})\n`,
    );
    for (const [layer, l] of Object.entries(b.spec.layers))
      process.stdout.write(
        `  ${layer.padEnd(20)} stride ${l.stride ?? '?'}  ${l.description ?? ''}${b.spec.defaultLayers.includes(layer) ? '  [default]' : ''}\n`,
      );
  }
}
