// `patchline bank discard`: remove a version that is not active (a taught bank not wanted).
import { cliActor } from '../../../recipes/audit-log.js';
import { discardVersion } from '../../../recipes/bank-operations.js';
import { parseCommand, UsageError, type CommandSpec } from '../../args.js';
import { STORE_OPTIONS, storeFromOptions, versionOption } from './store-options.js';

export const bankDiscardCommand: CommandSpec = {
  name: 'bank discard',
  summary: 'delete a version that is not active',
  usage: ['patchline bank discard --store DIR --version N'],
  options: { ...STORE_OPTIONS, version: { type: 'string', value: 'N', help: 'version number (3 or v3)' } },
};

export async function runBankDiscard(argv: string[]): Promise<void> {
  const v = parseCommand(bankDiscardCommand, argv);
  if (!v) return;
  const version = versionOption(bankDiscardCommand, v);
  if (version === undefined) throw new UsageError('patchline bank discard: --version is required');
  const { store } = storeFromOptions(bankDiscardCommand, v);
  discardVersion(store, version, { actor: cliActor() });
  process.stderr.write(`discarded ${store.idOf(version)}\n`);
}
