// patchline command line: dispatches to one module per subcommand.
import { UsageError } from './args.js';
import { demoCommand, runDemo } from './commands/demo.js';
import { embedCommand, runEmbed } from './commands/embed.js';
import { evalCommand, runEval } from './commands/eval.js';
import { fitCommand, runFit } from './commands/fit.js';
import { runBank } from './commands/bank/index.js';
import { runModel } from './commands/model/index.js';
import { runTeach, teachCommand } from './commands/teach.js';
import { configCommand, runConfig } from './commands/config.js';
import { runCommand, runRun } from './commands/run.js';
import { runTune, tuneCommand } from './commands/tune.js';

const COMMANDS: Record<string, { summary: string; run: (argv: string[]) => Promise<void> }> = {
  demo: { summary: demoCommand.summary, run: runDemo },
  embed: { summary: embedCommand.summary, run: runEmbed },
  fit: { summary: fitCommand.summary, run: runFit },
  eval: { summary: evalCommand.summary, run: runEval },
  model: { summary: 'backbone tools: list, inspect, fetch, check, fuse, providers', run: runModel },
  run: { summary: runCommand.summary, run: runRun },
  tune: { summary: tuneCommand.summary, run: runTune },
  teach: { summary: teachCommand.summary, run: runTeach },
  bank: { summary: "a recipe's bank versions: list, import, activate, rollback, add, threshold, discard", run: runBank },
  config: { summary: configCommand.summary, run: runConfig },
};

function usage(): string {
  return [
    'patchline: PatchCore defect detection for production lines',
    '',
    'Usage: patchline COMMAND [options]',
    '',
    'Commands:',
    ...Object.entries(COMMANDS).map(([k, c]) => `  ${k.padEnd(8)} ${c.summary}`),
    '',
    "Run 'patchline COMMAND --help' for a command's options.",
  ].join('\n');
}

export async function main(argv: string[]): Promise<number> {
  const [name, ...rest] = argv;
  if (name === undefined || name === '--help' || name === '-h' || name === 'help') {
    process.stdout.write(`${usage()}\n`);
    return name === undefined ? 2 : 0;
  }
  const cmd = COMMANDS[name];
  try {
    if (!cmd) throw new UsageError(`patchline: unknown command '${name}'\n\n${usage()}`);
    await cmd.run(rest);
    return 0;
  } catch (e) {
    if (e instanceof UsageError) {
      process.stderr.write(`${e.message}\n`);
      return 2;
    }
    process.stderr.write(`patchline ${name}: ${e instanceof Error ? e.message : String(e)}\n`);
    if (process.env.PATCHLINE_DEBUG && e instanceof Error) process.stderr.write(`${e.stack}\n`);
    return 1;
  }
}

const isEntry = process.argv[1] && import.meta.url === new URL(`file://${process.argv[1]}`).href;
if (isEntry) {
  main(process.argv.slice(2)).then((code) => {
    process.exitCode = code;
    // A failed command has closed what it opened; should anything still hold the event loop
    // (a native handle), the process must still end, not linger half-started.
    if (code !== 0) setTimeout(() => process.exit(code), 5000).unref();
  });
}
