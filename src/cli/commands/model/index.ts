// `patchline model`: backbone tools, one module per subcommand.
import { runSubcommand, type Subcommands } from '../../subcommands.js';
import { modelCheckCommand, runModelCheck } from './check.js';
import { modelFetchCommand, runModelFetch } from './fetch.js';
import { modelFuseCommand, runModelFuse } from './fuse.js';
import { modelInspectCommand, runModelInspect } from './inspect.js';
import { modelListCommand, runModelList } from './list.js';
import { modelProvidersCommand, runModelProviders } from './providers.js';

const SUBCOMMANDS: Subcommands = {
  list: { spec: modelListCommand, run: runModelList },
  inspect: { spec: modelInspectCommand, run: runModelInspect },
  fetch: { spec: modelFetchCommand, run: runModelFetch },
  check: { spec: modelCheckCommand, run: runModelCheck },
  fuse: { spec: modelFuseCommand, run: runModelFuse },
  providers: { spec: modelProvidersCommand, run: runModelProviders },
};

export function runModel(argv: string[]): Promise<void> {
  return runSubcommand('model', 'backbone tools', SUBCOMMANDS, argv);
}
