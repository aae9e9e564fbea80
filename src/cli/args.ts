// Command-line parsing on node:util's parseArgs, with the conventions every patchline
// subcommand shares: --help, exit code 2 and the argument's name on bad input, and options
// that take several values (`--features a.npy b.npy`).
import { parseArgs, type ParseArgsConfig } from 'node:util';

export class UsageError extends Error {
  readonly exitCode = 2;
}

export interface OptionDoc {
  type: 'string' | 'boolean';
  /** Accepts several space-separated values. */
  multiple?: boolean;
  short?: string;
  default?: string | boolean;
  help: string;
  /** Placeholder for the value in --help. */
  value?: string;
}

export interface CommandSpec {
  name: string;
  summary: string;
  usage: string[];
  options: Record<string, OptionDoc>;
  /** Extra text after the options in --help. */
  notes?: string;
  /** Name of the one positional argument the command takes, if any. */
  positional?: string;
}

export type ParsedOptions = Record<string, string | boolean | string[] | undefined>;

export function helpText(cmd: CommandSpec): string {
  const lines = [`patchline ${cmd.name}: ${cmd.summary}`, '', 'Usage:', ...cmd.usage.map((u) => `  ${u}`), '', 'Options:'];
  const entries = Object.entries({ ...cmd.options, help: { type: 'boolean', help: 'show this help' } as OptionDoc });
  const left = entries.map(
    ([k, o]) =>
      `  ${o.short ? `-${o.short}, ` : ''}--${k}${o.type === 'string' ? ` ${o.value ?? 'VALUE'}${o.multiple ? ' ...' : ''}` : ''}`,
  );
  const width = Math.max(...left.map((l) => l.length)) + 2;
  entries.forEach(([, o], i) => {
    const def = o.default !== undefined && o.default !== false ? ` (default: ${String(o.default)})` : '';
    lines.push(`${left[i]!.padEnd(width)}${o.help}${def}`);
  });
  if (cmd.notes) lines.push('', cmd.notes);
  return lines.join('\n');
}

/**
 * Parses argv for a command. Returns undefined after printing help for --help. Unknown options,
 * missing values and stray arguments raise UsageError naming the argument.
 */
export function parseCommand(cmd: CommandSpec, argv: string[]): ParsedOptions | undefined {
  const options: NonNullable<ParseArgsConfig['options']> = { help: { type: 'boolean', short: 'h' } };
  for (const [k, o] of Object.entries(cmd.options)) {
    options[k] = { type: o.type, ...(o.short ? { short: o.short } : {}), ...(o.multiple ? { multiple: true } : {}) };
  }
  let parsed;
  try {
    parsed = parseArgs({ args: argv, options, allowPositionals: true, strict: true, tokens: true });
  } catch (e) {
    throw new UsageError(`patchline ${cmd.name}: ${(e as Error).message.replace(/\. To specify a positional.*$/s, '')}`);
  }
  if (parsed.values.help) {
    process.stdout.write(`${helpText(cmd)}\n`);
    return undefined;
  }
  const values: ParsedOptions = {};
  let lastMultiple: string | undefined;
  for (const token of parsed.tokens ?? []) {
    if (token.kind === 'option') {
      const doc = cmd.options[token.name]!;
      if (doc.multiple) {
        const list = (values[token.name] as string[] | undefined) ?? [];
        if (token.value !== undefined) list.push(token.value);
        values[token.name] = list;
        lastMultiple = token.name;
      } else {
        values[token.name] = doc.type === 'boolean' ? true : token.value;
        lastMultiple = undefined;
      }
    } else if (token.kind === 'positional') {
      if (lastMultiple) (values[lastMultiple] as string[]).push(token.value);
      else if (cmd.positional && values[cmd.positional] === undefined) values[cmd.positional] = token.value;
      else throw new UsageError(`patchline ${cmd.name}: unexpected argument '${token.value}'`);
    }
  }
  for (const [k, o] of Object.entries(cmd.options)) {
    if (values[k] === undefined && o.default !== undefined) values[k] = o.multiple ? [String(o.default)] : o.default;
  }
  return values;
}

export function requireString(cmd: CommandSpec, values: ParsedOptions, name: string): string {
  const v = values[name];
  if (typeof v !== 'string' || v.length === 0) throw new UsageError(`patchline ${cmd.name}: --${name} is required`);
  return v;
}

export function optionalString(values: ParsedOptions, name: string): string | undefined {
  const v = values[name];
  return typeof v === 'string' ? v : undefined;
}

export function intOption(cmd: CommandSpec, values: ParsedOptions, name: string, min = 1): number {
  const raw = values[name];
  if (raw === undefined) throw new UsageError(`patchline ${cmd.name}: --${name} is required`);
  const n = Number(raw);
  if (!Number.isInteger(n) || n < min)
    throw new UsageError(`patchline ${cmd.name}: --${name} must be an integer >= ${min}, got '${String(raw)}'`);
  return n;
}

export function numberOption(cmd: CommandSpec, values: ParsedOptions, name: string, range: { min?: number; max?: number } = {}): number {
  const raw = values[name];
  const n = Number(raw);
  if (
    raw === undefined ||
    !Number.isFinite(n) ||
    (range.min !== undefined && n < range.min) ||
    (range.max !== undefined && n > range.max)
  ) {
    throw new UsageError(
      `patchline ${cmd.name}: --${name} must be a number${range.min !== undefined ? ` >= ${range.min}` : ''}${range.max !== undefined ? ` <= ${range.max}` : ''}, got '${String(raw)}'`,
    );
  }
  return n;
}

/** "WxH" or "N" (square). */
export function sizeOption(cmd: CommandSpec, values: ParsedOptions, name: string): { width: number; height: number } {
  const raw = String(values[name] ?? '');
  const m = /^(\d+)(?:x(\d+))?$/.exec(raw);
  if (!m) throw new UsageError(`patchline ${cmd.name}: --${name} must be WIDTHxHEIGHT or a single size, got '${raw}'`);
  const width = Number(m[1]);
  const height = Number(m[2] ?? m[1]);
  if (width < 1 || height < 1) throw new UsageError(`patchline ${cmd.name}: --${name} must be positive, got '${raw}'`);
  return { width, height };
}
