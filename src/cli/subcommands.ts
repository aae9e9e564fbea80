// Commands with subcommands (`patchline model ...`, `patchline bank ...`): help listing them,
// dispatch, and a usage error naming the known ones.
import { UsageError, type CommandSpec } from './args.js';

export type Subcommands = Record<string, { spec: CommandSpec; run: (argv: string[]) => Promise<void> }>;

export async function runSubcommand(group: string, description: string, subcommands: Subcommands, argv: string[]): Promise<void> {
  const [sub, ...rest] = argv;
  const names = Object.keys(subcommands).join(', ');
  if (sub === undefined || sub === '--help' || sub === '-h') {
    const width = Math.max(...Object.keys(subcommands).map((k) => k.length)) + 2;
    process.stdout.write(
      `patchline ${group}: ${description}\n\nSubcommands:\n${Object.entries(subcommands)
        .map(([k, c]) => `  ${k.padEnd(width)}${c.spec.summary}`)
        .join('\n')}\n\nRun 'patchline ${group} SUBCOMMAND --help' for options.\n`,
    );
    if (sub === undefined) throw new UsageError(`patchline ${group}: missing subcommand (${names})`);
    return;
  }
  const command = subcommands[sub];
  if (command) return command.run(rest);
  throw new UsageError(`patchline ${group}: unknown subcommand '${sub}' (${names})`);
}
