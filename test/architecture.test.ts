// The layering of src/ (scripts/architecture.ts): lower folders never import higher ones, the
// live pipeline never imports the offline evaluation, and no two folders import each other.
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import { ALLOWED_IMPORTS, checkArchitecture } from '../scripts/architecture.js';
import { PROJECT_ROOT } from './helpers/shared.js';

const LOWER = ['capture', 'publish', 'patchcore', 'model', 'preprocess', 'io', 'config', 'core'];
const HIGHER = ['pipeline', 'service', 'cli', 'eval', 'demo'];

describe('architecture', () => {
  test('src/ follows the import table: no violations, no folder cycles', () => {
    const { violations, edges } = checkArchitecture(join(PROJECT_ROOT, 'src'));
    assert.deepEqual(violations, []);
    assert.ok(edges.size >= 10, `found import edges for ${edges.size} folders`);
  });

  test('the table itself keeps lower layers below higher ones and the pipeline away from eval', () => {
    for (const low of LOWER) for (const high of HIGHER) assert.ok(!ALLOWED_IMPORTS[low]!.includes(high), `${low}/ may import ${high}/`);
    assert.ok(!ALLOWED_IMPORTS.pipeline!.includes('eval'));
    assert.deepEqual(ALLOWED_IMPORTS.core, []);
  });

  test('a wrong-way import, a cycle and a file outside a folder are reported', () => {
    const src = mkdtempSync(join(tmpdir(), 'patchline-arch-'));
    const write = (file: string, text: string) => {
      mkdirSync(join(src, file, '..'), { recursive: true });
      writeFileSync(join(src, file), text);
    };
    write('capture/a.ts', "import { x } from '../pipeline/b.js';\n");
    write('pipeline/b.ts', "export const x = 1;\nimport type { Y } from '../capture/a.js';\n");
    write('core/c.ts', "const m = await import('../io/d.js');\n");
    write('io/d.ts', "import { z } from '../core/c.js';\n");
    write('stray.ts', 'export {};\n');
    const { violations } = checkArchitecture(src);
    const whys = violations.map((v) => `${v.file}: ${v.why}`);
    assert.ok(
      whys.some((w) => w.startsWith('capture/a.ts: capture/ may not import pipeline/')),
      whys.join('\n'),
    );
    assert.ok(
      whys.some((w) => w.startsWith('core/c.ts: core/ may not import io/')),
      whys.join('\n'),
    );
    assert.ok(
      whys.some((w) => w.includes('import cycle between folders')),
      whys.join('\n'),
    );
    assert.ok(
      whys.some((w) => w.startsWith('stray.ts: source files belong in a folder')),
      whys.join('\n'),
    );
  });
});
