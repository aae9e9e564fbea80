// The field table of docs/configuration.md, generated from the schema (`patchline config
// --markdown`), so the documentation cannot drift from the code.
import { configJsonSchema } from './load.js';

interface Node {
  type?: string;
  properties?: Record<string, Node>;
  additionalProperties?: Node | boolean;
  items?: Node;
  description?: string;
  default?: unknown;
  anyOf?: Node[];
  oneOf?: Node[];
  enum?: unknown[];
  const?: unknown;
  minimum?: number;
  maximum?: number;
}

const bound = (v?: number) => (v === undefined || Math.abs(v) > 1e15 ? '' : String(v));

export function configReferenceRows(): string[] {
  const rows: string[] = [];
  const walk = (s: Node, path: string) => {
    if (s.properties) {
      for (const [k, v] of Object.entries(s.properties)) walk(v, path ? `${path}.${k}` : k);
      return;
    }
    // A map of named entries (recipes): the map itself, then each entry's fields under <name>.
    if (typeof s.additionalProperties === 'object' && s.additionalProperties.properties) {
      rows.push(`| \`${path}\` | map | ${s.default !== undefined ? `\`${JSON.stringify(s.default)}\`` : ''} | ${s.description ?? ''} |`);
      walk(s.additionalProperties, `${path}.<name>`);
      return;
    }
    // A list of entries (cameras): the list, then each entry's fields under [].
    if (s.type === 'array' && s.items?.properties) {
      rows.push(`| \`${path}\` | list | ${s.default !== undefined ? `\`${JSON.stringify(s.default)}\`` : ''} | ${s.description ?? ''} |`);
      walk(s.items, `${path}[]`);
      return;
    }
    const alts = s.oneOf ?? s.anyOf;
    if (alts?.some((a) => a.properties)) {
      rows.push(
        `| \`${path}.type\` | ${alts.map((a) => `\`${String(a.properties?.type?.const)}\``).join(', ')} | \`${String((s.default as { type?: string } | undefined)?.type ?? '')}\` | which source |`,
      );
      for (const a of alts) {
        const t = String(a.properties?.type?.const);
        for (const [k, v] of Object.entries(a.properties ?? {})) if (k !== 'type') walk(v, `${path}.${k} [${t}]`);
      }
      return;
    }
    const type = s.enum
      ? s.enum.map((e) => `\`${String(e)}\``).join(', ')
      : alts
        ? alts.map((a) => (a.const !== undefined ? `\`${String(a.const)}\`` : a.type)).join(' or ')
        : (s.type ?? '');
    const range = bound(s.minimum) || bound(s.maximum) ? ` (${bound(s.minimum)}..${bound(s.maximum)})` : '';
    rows.push(
      `| \`${path}\` | ${type}${range} | ${s.default !== undefined ? `\`${JSON.stringify(s.default)}\`` : ''} | ${s.description ?? ''} |`,
    );
  };
  walk(configJsonSchema() as Node, '');
  return rows;
}
