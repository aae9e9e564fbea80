// Config files (YAML or JSON) and `--set path=value` overrides -> a validated Config.
// Every problem names the file and the field.
import { readFileSync } from 'node:fs';
import { extname } from 'node:path';
import YAML from 'yaml';
import { z } from 'zod';
import { configSchema, type Config } from './schema.js';

export class ConfigError extends Error {
  readonly exitCode = 2;
}

function parseFile(path: string): unknown {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (e) {
    throw new ConfigError(`${path}: cannot read config: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`);
  }
  const ext = extname(path).toLowerCase();
  try {
    if (ext === '.json') return JSON.parse(text);
    if (ext === '.yaml' || ext === '.yml') return YAML.parse(text, { prettyErrors: true }) ?? {};
  } catch (e) {
    throw new ConfigError(`${path}: not valid ${ext === '.json' ? 'JSON' : 'YAML'}: ${(e as Error).message.split('\n')[0]}`);
  }
  throw new ConfigError(`${path}: unknown config format '${ext}' (use .yaml, .yml or .json)`);
}

/** Keys that would reach Object.prototype instead of a config section. */
const FORBIDDEN_KEYS = new Set(['__proto__', 'constructor', 'prototype']);

/** `a.b.c=value`: value parsed as JSON when it is JSON (numbers, booleans, arrays), else a string. */
export function applyOverride(target: Record<string, unknown>, assignment: string): void {
  const eq = assignment.indexOf('=');
  if (eq <= 0) throw new ConfigError(`--set ${assignment}: expected PATH=VALUE, e.g. pipeline.batchSize=8`);
  const path = assignment.slice(0, eq).split('.');
  const forbidden = path.find((k) => FORBIDDEN_KEYS.has(k));
  if (forbidden) throw new ConfigError(`--set ${assignment.slice(0, 200)}: '${forbidden}' is not a config field`);
  const raw = assignment.slice(eq + 1);
  let value: unknown = raw;
  try {
    value = JSON.parse(raw);
  } catch {
    // a plain string
  }
  let node = target;
  for (const key of path.slice(0, -1)) {
    const next = node[key];
    if (next === undefined || next === null) node[key] = {};
    else if (typeof next !== 'object' || Array.isArray(next)) throw new ConfigError(`--set ${assignment}: '${key}' is not a section`);
    node = node[key] as Record<string, unknown>;
  }
  node[path[path.length - 1]!] = value;
}

function describeIssues(error: z.ZodError, where: string): string {
  return error.issues
    .map((i) => {
      const field = i.path.join('.') || '(top level)';
      if (i.code === 'unrecognized_keys')
        return `${where}: ${field === '(top level)' ? '' : `${field}: `}unknown key(s) ${i.keys.map((k) => `'${k}'`).join(', ')}`;
      return `${where}: ${field}: ${i.message}`;
    })
    .join('\n');
}

/** Loads and validates: file (optional) + overrides, defaults filled in. */
export function loadConfig(file: string | undefined, overrides: string[] = []): Config {
  const raw = (file ? parseFile(file) : {}) as Record<string, unknown>;
  if (typeof raw !== 'object' || raw === null || Array.isArray(raw))
    throw new ConfigError(`${file}: the config must be a mapping of sections`);
  for (const o of overrides) applyOverride(raw, o);
  const parsed = configSchema.safeParse(raw);
  if (!parsed.success)
    throw new ConfigError(
      describeIssues(parsed.error, file ?? 'config') + (overrides.length ? ` (after --set ${overrides.join(' ')})` : ''),
    );
  return parsed.data;
}

export function defaultConfig(): Config {
  return configSchema.parse({});
}

export function configJsonSchema(): unknown {
  return z.toJSONSchema(configSchema, { io: 'input' });
}

export function toYaml(config: unknown): string {
  return YAML.stringify(config);
}
