// `patchline model`: backbone tools, one module per subcommand.
import { UsageError, type CommandSpec } from '../../args.js';
import { modelCheckCommand, runModelCheck } from './check.js';
import { modelFetchCommand, runModelFetch } from './fetch.js';
import { modelFuseCommand, runModelFuse } from './fuse.js';
import { modelInspectCommand, runModelInspect } from './inspect.js';
import { modelListCommand, runModelList } from './list.js';
import { modelProvidersCommand, runModelProviders } from './providers.js';

const SUBCOMMANDS: Record<string, { spec: CommandSpec; run: (argv: string[]) => Promise<void> }> = {
  list: { spec: modelListCommand, run: runModelList },
  inspect: { spec: modelInspectCommand, run: runModelInspect },
  fetch: { spec: modelFetchCommand, run: runModelFetch },
  check: { spec: modelCheckCommand, run: runModelCheck },
  fuse: { spec: modelFuseCommand, run: runModelFuse },
  providers: { spec: modelProvidersCommand, run: runModelProviders },
};

export async function runModel(argv: string[]): Promise<void> {
  const [sub, ...rest] = argv;
  if (sub === undefined || sub === '--help' || sub === '-h') {
    process.stdout.write(
      `patchline model: backbone tools\n\nSubcommands:\n${Object.entries(SUBCOMMANDS)
        .map(([k, c]) => `  ${k.padEnd(8)} ${c.spec.summary}`)
        .join('\n')}\n\nRun 'patchline model SUBCOMMAND --help' for options.\n`,
    );
    if (sub === undefined) throw new UsageError('patchline model: missing subcommand (list, inspect, fetch, check, fuse, providers)');
    return;
  }
  const command = SUBCOMMANDS[sub];
  if (command) return command.run(rest);
  throw new UsageError(`patchline model: unknown subcommand '${sub}' (list, inspect, fetch, check, fuse, providers)`);
}
