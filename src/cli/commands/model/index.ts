// `patchline model`: backbone tools, one module per subcommand.
import { runSubcommand, type Subcommands } from '../../subcommands.js';
import { modelCheckCommand, runModelCheck } from './check.js';
import { modelDequantizeCommand, runModelDequantize } from './dequantize.js';
import { modelFetchCommand, runModelFetch } from './fetch.js';
import { modelFuseCommand, runModelFuse } from './fuse.js';
import { modelInspectCommand, runModelInspect } from './inspect.js';
import { modelListCommand, runModelList } from './list.js';
import { modelProvidersCommand, runModelProviders } from './providers.js';
import { modelQuantizeCommand, runModelQuantize } from './quantize.js';

const SUBCOMMANDS: Subcommands = {
  list: { spec: modelListCommand, run: runModelList },
  inspect: { spec: modelInspectCommand, run: runModelInspect },
  fetch: { spec: modelFetchCommand, run: runModelFetch },
  check: { spec: modelCheckCommand, run: runModelCheck },
  fuse: { spec: modelFuseCommand, run: runModelFuse },
  quantize: { spec: modelQuantizeCommand, run: runModelQuantize },
  dequantize: { spec: modelDequantizeCommand, run: runModelDequantize },
  providers: { spec: modelProvidersCommand, run: runModelProviders },
};

export function runModel(argv: string[]): Promise<void> {
  return runSubcommand('model', 'backbone tools', SUBCOMMANDS, argv);
}
