// The CLI from source in a child process, as a user runs it; its own cache folder per test file.
import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { PROJECT_ROOT } from './shared.js';

export interface CliResult {
  code: number | null;
  stdout: string;
  stderr: string;
}

export const CLI_TIMEOUT_MS = 8 * 60_000;

export function runCli(cacheDir: string, args: string[]): CliResult {
  const r = spawnSync(process.execPath, ['--import', 'tsx', join(PROJECT_ROOT, 'src', 'cli', 'main.ts'), ...args], {
    encoding: 'utf8',
    cwd: PROJECT_ROOT,
    env: { ...process.env, PATCHLINE_CACHE_DIR: cacheDir },
    // A hung command fails its test instead of holding the whole suite.
    timeout: CLI_TIMEOUT_MS,
    killSignal: 'SIGKILL',
  });
  if (r.error) throw new Error(`patchline ${args.join(' ')}: ${r.error.message}\n${r.stderr}`);
  return { code: r.status, stdout: r.stdout, stderr: r.stderr };
}

/** `fit` with the reference fixtures' settings: layer2 + layer3, every patch kept, no holdout. */
export function referenceFitArgs(data: string, backbone: string, bank: string): string[] {
  return [
    'fit',
    '--data',
    data,
    '--backbone',
    backbone,
    '--layers',
    'layer2,layer3',
    '--coreset-method',
    'identity',
    '--holdout',
    '0',
    '--out',
    bank,
  ];
}
