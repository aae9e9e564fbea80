// `patchline bank activate` and `patchline bank rollback`: which version runs. A running service
// notices within a second and swaps it in between two batches.
import { cliActor } from '../../../recipes/audit-log.js';
import { activateVersion, rollbackVersion } from '../../../recipes/bank-operations.js';
import { parseCommand, UsageError, type CommandSpec } from '../../args.js';
import { STORE_OPTIONS, storeFromOptions, versionOption } from './store-options.js';

export const bankActivateCommand: CommandSpec = {
  name: 'bank activate',
  summary: 'make a version the active one (a running service swaps it in)',
  usage: ['patchline bank activate --store DIR --version N'],
  options: { ...STORE_OPTIONS, version: { type: 'string', value: 'N', help: 'version number (3 or v3)' } },
};

export const bankRollbackCommand: CommandSpec = {
  name: 'bank rollback',
  summary: 'go back to the version that was active before the current one',
  usage: ['patchline bank rollback --store DIR'],
  options: { ...STORE_OPTIONS },
};

export async function runBankActivate(argv: string[]): Promise<void> {
  const v = parseCommand(bankActivateCommand, argv);
  if (!v) return;
  const version = versionOption(bankActivateCommand, v);
  if (version === undefined) throw new UsageError('patchline bank activate: --version is required');
  const { store } = storeFromOptions(bankActivateCommand, v);
  const r = activateVersion(store, version, { actor: cliActor() });
  process.stderr.write(`active: ${r.after}${r.before ? ` (was ${r.before})` : ''}\n`);
}

export async function runBankRollback(argv: string[]): Promise<void> {
  const v = parseCommand(bankRollbackCommand, argv);
  if (!v) return;
  const { store } = storeFromOptions(bankRollbackCommand, v);
  const r = rollbackVersion(store, { actor: cliActor() });
  process.stderr.write(`rolled back: ${r.before} -> ${r.after}\n`);
}
