// `patchline bank import`: a bank file from 'patchline fit' as a store's next version.
import { cliActor } from '../../../recipes/audit-log.js';
import { importBank } from '../../../recipes/bank-operations.js';
import { parseCommand, requireString, type CommandSpec } from '../../args.js';
import { STORE_OPTIONS, storeFromOptions } from './store-options.js';

export const bankImportCommand: CommandSpec = {
  name: 'bank import',
  summary: "add a bank file from 'patchline fit' as the next version (creates the store)",
  usage: ['patchline bank import --store DIR --bank FILE [--activate]'],
  options: {
    ...STORE_OPTIONS,
    bank: { type: 'string', value: 'FILE', help: 'bank file to import (checked completely first)' },
    activate: { type: 'boolean', help: 'make it the active version' },
  },
};

export async function runBankImport(argv: string[]): Promise<void> {
  const v = parseCommand(bankImportCommand, argv);
  if (!v) return;
  const file = requireString(bankImportCommand, v, 'bank');
  const { store } = storeFromOptions(bankImportCommand, v, { create: true });
  const added = await importBank(store, file, { actor: cliActor(), activate: v.activate === true });
  process.stderr.write(`imported ${file} as ${added.id} (${added.file})${v.activate ? ', active' : ''}\n`);
}
