// `patchline config`: the defaults (commented YAML), the JSON Schema for editors, validation.
import { configJsonSchema, defaultConfig, toYaml } from '../../config/load.js';
import { optionalString, parseCommand, UsageError, type CommandSpec } from '../args.js';
import { configReferenceRows } from '../../config/reference.js';
import { loadConfigOrUsage } from './run.js';

export const configCommand: CommandSpec = {
  name: 'config',
  summary: 'print the default config or its JSON Schema, or validate a config file',
  usage: ['patchline config --print-defaults', 'patchline config --json-schema', 'patchline config --validate FILE [--set PATH=VALUE ...]'],
  options: {
    'print-defaults': { type: 'boolean', help: 'every field with its default, as YAML' },
    'json-schema': { type: 'boolean', help: 'JSON Schema of the config (for editor completion and validation)' },
    markdown: { type: 'boolean', help: 'the field table of docs/configuration.md' },
    validate: { type: 'string', value: 'FILE', help: 'check a config file; prints the effective config' },
    set: { type: 'string', multiple: true, value: 'PATH=VALUE', help: 'override a field while validating' },
  },
  notes: 'Exit code 2 and the file and field on any problem.',
};

export async function runConfig(argv: string[]): Promise<void> {
  const v = parseCommand(configCommand, argv);
  if (!v) return;
  if (v['print-defaults']) {
    process.stdout.write(toYaml(defaultConfig()));
    return;
  }
  if (v['json-schema']) {
    process.stdout.write(`${JSON.stringify(configJsonSchema(), null, 2)}\n`);
    return;
  }
  if (v.markdown) {
    process.stdout.write(`${configReferenceRows().join('\n')}\n`);
    return;
  }
  const file = optionalString(v, 'validate');
  if (!file) throw new UsageError('patchline config: give --print-defaults, --json-schema or --validate FILE');
  process.stdout.write(toYaml(loadConfigOrUsage(file, (v.set as string[] | undefined) ?? [])));
  process.stderr.write(`${file}: valid\n`);
}
