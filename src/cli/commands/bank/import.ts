// `patchline bank import`: a bank file from 'patchline fit', or from a URL pinned by its sha256,
// as a store's next version.
import { cliActor } from '../../../recipes/audit-log.js';
import { importBankFromUrl } from '../../../recipes/bank-download.js';
import { importBank } from '../../../recipes/bank-operations.js';
import { optionalString, parseCommand, UsageError, type CommandSpec } from '../../args.js';
import { STORE_OPTIONS, storeFromOptions } from './store-options.js';

export const bankImportCommand: CommandSpec = {
  name: 'bank import',
  summary: "add a bank file from 'patchline fit' (or a URL) as the next version (creates the store)",
  usage: [
    'patchline bank import --store DIR --bank FILE [--activate]',
    'patchline bank import --store DIR --url URL --sha256 HEX [--activate]',
  ],
  options: {
    ...STORE_OPTIONS,
    bank: { type: 'string', value: 'FILE', help: 'bank file to import (checked completely first)' },
    url: {
      type: 'string',
      value: 'URL',
      help: 'instead of --bank: fetch it over HTTP(S) (a file server, an object store, an S3 presigned URL)',
    },
    sha256: { type: 'string', value: 'HEX', help: "with --url: the file's sha256; anything else is refused before import" },
    activate: { type: 'boolean', help: 'make it the active version' },
  },
  notes: 'A download goes to a temporary file in the store and becomes a version only when complete, verified and valid.',
};

export async function runBankImport(argv: string[]): Promise<void> {
  const cmd = bankImportCommand;
  const v = parseCommand(cmd, argv);
  if (!v) return;
  const file = optionalString(v, 'bank');
  const url = optionalString(v, 'url');
  const sha256 = optionalString(v, 'sha256');
  if (!file === !url) throw new UsageError(`patchline ${cmd.name}: give --bank FILE or --url URL`);
  if (url && !sha256) throw new UsageError(`patchline ${cmd.name}: --url needs --sha256: a bank from the network must be pinned`);
  const { store } = storeFromOptions(cmd, v, { create: true });
  const who = { actor: cliActor(), activate: v.activate === true };
  const added = url ? await importBankFromUrl(store, url, { sha256: sha256! }, who) : await importBank(store, file!, who);
  process.stderr.write(`imported ${url ?? file} as ${added.id} (${added.file})${v.activate ? ', active' : ''}\n`);
}
