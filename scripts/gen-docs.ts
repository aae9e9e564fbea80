// `npm run docs`: regenerates the parts of docs/ that come from code: the config field table
// (docs/configuration.md) and the MQTT payload JSON Schemas (docs/mqtt.md), between markers.
import { readFileSync, writeFileSync } from 'node:fs';
import { configReferenceRows } from '../src/config/reference.js';
import { payloadJsonSchemas } from '../src/publish/payload-schema.js';

export function generatedSections(): Record<string, string> {
  const s = payloadJsonSchemas();
  return {
    'config-fields': configReferenceRows().join('\n'),
    'result-schema': `\`\`\`json\n${JSON.stringify(s.result, null, 2)}\n\`\`\``,
    'status-schema': `\`\`\`json\n${JSON.stringify(s.status, null, 2)}\n\`\`\``,
    'command-schema': `\`\`\`json\n${JSON.stringify(s.command, null, 2)}\n\`\`\``,
  };
}

export function fill(text: string, sections: Record<string, string>): string {
  return text.replace(
    /<!-- generated:([a-z-]+) -->[\s\S]*?<!-- end:\1 -->/g,
    (_, name: string) => `<!-- generated:${name} -->\n${sections[name] ?? ''}\n<!-- end:${name} -->`,
  );
}

if (process.argv[1]?.endsWith('gen-docs.ts')) {
  for (const file of ['docs/configuration.md', 'docs/mqtt.md']) writeFileSync(file, fill(readFileSync(file, 'utf8'), generatedSections()));
}
