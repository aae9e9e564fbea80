// `patchline bank`: a recipe's bank versions, one module per subcommand.
import { runSubcommand, type Subcommands } from '../../subcommands.js';
import { bankActivateCommand, bankRollbackCommand, runBankActivate, runBankRollback } from './activate.js';
import { bankAddCommand, runBankAdd } from './add.js';
import { bankDiscardCommand, runBankDiscard } from './discard.js';
import { bankImportCommand, runBankImport } from './import.js';
import { bankListCommand, runBankList } from './list.js';
import { bankThresholdCommand, runBankThreshold } from './threshold.js';

const SUBCOMMANDS: Subcommands = {
  list: { spec: bankListCommand, run: runBankList },
  import: { spec: bankImportCommand, run: runBankImport },
  activate: { spec: bankActivateCommand, run: runBankActivate },
  rollback: { spec: bankRollbackCommand, run: runBankRollback },
  add: { spec: bankAddCommand, run: runBankAdd },
  threshold: { spec: bankThresholdCommand, run: runBankThreshold },
  discard: { spec: bankDiscardCommand, run: runBankDiscard },
};

export function runBank(argv: string[]): Promise<void> {
  return runSubcommand('bank', "a recipe's bank versions (store folder: v0001.bank ..., active.json, audit.jsonl)", SUBCOMMANDS, argv);
}
