// The layering of src/: which folder may import which. Lower folders hold the shared vocabulary
// and the numerics; higher ones wire them together. A folder may import only the folders listed
// for it (and itself), so dependencies run one way and no two folders import each other.
// `node --import tsx scripts/architecture.ts` prints violations; test/architecture.test.ts runs it.
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { dirname, join, relative, resolve, sep } from 'node:path';
import { fileURLToPath } from 'node:url';

export const ALLOWED_IMPORTS: Record<string, string[]> = {
  core: [],
  io: ['core'],
  config: ['core'],
  preprocess: ['core', 'io'],
  imaging: ['core', 'preprocess'],
  model: ['core', 'io', 'preprocess'],
  patchcore: ['core', 'io', 'model', 'preprocess'],
  linescan: ['core', 'imaging'],
  metrics: ['core'],
  capture: ['core', 'config', 'io', 'linescan', 'preprocess'],
  publish: ['core', 'imaging', 'metrics'],
  pipeline: ['core', 'capture', 'config', 'imaging', 'linescan', 'metrics', 'patchcore', 'preprocess'],
  eval: ['core', 'imaging', 'io', 'model', 'patchcore', 'preprocess'],
  recipes: ['core', 'imaging', 'io', 'model', 'patchcore', 'preprocess'],
  tune: ['core', 'eval', 'io', 'model', 'patchcore', 'preprocess'],
  ui: ['core', 'config', 'imaging', 'metrics', 'preprocess', 'publish'],
  service: [
    'core',
    'capture',
    'config',
    'imaging',
    'io',
    'linescan',
    'metrics',
    'model',
    'patchcore',
    'pipeline',
    'preprocess',
    'publish',
    'recipes',
    'ui',
  ],
  demo: [
    'core',
    'config',
    'imaging',
    'io',
    'linescan',
    'metrics',
    'model',
    'patchcore',
    'pipeline',
    'preprocess',
    'publish',
    'recipes',
    'service',
    'ui',
  ],
  cli: [
    'core',
    'capture',
    'config',
    'demo',
    'eval',
    'imaging',
    'io',
    'linescan',
    'metrics',
    'model',
    'patchcore',
    'pipeline',
    'preprocess',
    'publish',
    'recipes',
    'service',
    'tune',
    'ui',
  ],
};

export interface Violation {
  file: string;
  imports: string;
  why: string;
}

function sourceFiles(dir: string): string[] {
  return readdirSync(dir).flatMap((name) => {
    const p = join(dir, name);
    return statSync(p).isDirectory() ? sourceFiles(p) : p.endsWith('.ts') ? [p] : [];
  });
}

const IMPORT = /(?:^|\n)\s*(?:import|export)\s[^'"]*?from\s+['"]([^'"]+)['"]|import\(\s*['"]([^'"]+)['"]\s*\)/g;

/** Folder-level import edges of src/, and every import the table does not allow. */
export function checkArchitecture(srcDir: string): { violations: Violation[]; edges: Map<string, Set<string>> } {
  const violations: Violation[] = [];
  const edges = new Map<string, Set<string>>();
  for (const file of sourceFiles(srcDir)) {
    const rel = relative(srcDir, file);
    const folder = rel.split(sep)[0]!;
    if (!rel.includes(sep)) {
      violations.push({ file: rel, imports: '', why: 'source files belong in a folder of src/' });
      continue;
    }
    const allowed = ALLOWED_IMPORTS[folder];
    if (!allowed) {
      violations.push({ file: rel, imports: '', why: `folder '${folder}' is not in scripts/architecture.ts (say what it may import)` });
      continue;
    }
    for (const m of readFileSync(file, 'utf8').matchAll(IMPORT)) {
      const spec = m[1] ?? m[2]!;
      if (!spec.startsWith('.')) continue;
      const target = relative(srcDir, resolve(dirname(file), spec));
      if (target.startsWith('..')) {
        violations.push({ file: rel, imports: spec, why: 'imports from outside src/' });
        continue;
      }
      const to = target.split(sep)[0]!;
      if (to === folder) continue;
      if (!edges.has(folder)) edges.set(folder, new Set());
      edges.get(folder)!.add(to);
      if (!allowed.includes(to)) violations.push({ file: rel, imports: spec, why: `${folder}/ may not import ${to}/` });
    }
  }
  for (const cycle of folderCycles(edges)) violations.push({ file: cycle.join(' -> '), imports: '', why: 'import cycle between folders' });
  return { violations, edges };
}

/** Each cycle of the folder graph, once (depth-first search). */
export function folderCycles(edges: Map<string, Set<string>>): string[][] {
  const cycles: string[][] = [];
  const state = new Map<string, 'open' | 'done'>();
  const path: string[] = [];
  const visit = (n: string) => {
    state.set(n, 'open');
    path.push(n);
    for (const m of edges.get(n) ?? []) {
      if (state.get(m) === 'open') cycles.push([...path.slice(path.indexOf(m)), m]);
      else if (!state.has(m)) visit(m);
    }
    path.pop();
    state.set(n, 'done');
  };
  for (const n of edges.keys()) if (!state.has(n)) visit(n);
  return cycles;
}

if (process.argv[1] && resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  const { violations } = checkArchitecture(resolve(dirname(fileURLToPath(import.meta.url)), '..', 'src'));
  for (const v of violations) process.stdout.write(`${v.file}${v.imports ? ` imports ${v.imports}` : ''}: ${v.why}\n`);
  process.stdout.write(violations.length === 0 ? 'architecture: no violations\n' : `architecture: ${violations.length} violation(s)\n`);
  process.exitCode = violations.length === 0 ? 0 : 1;
}
