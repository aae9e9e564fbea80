// `patchline bank list`: a store's versions, the active one marked.
import { parseCommand, type CommandSpec } from '../../args.js';
import { STORE_OPTIONS, storeFromOptions } from './store-options.js';

export const bankListCommand: CommandSpec = {
  name: 'bank list',
  summary: "a store's versions: when, how made, rows, threshold; * = active",
  usage: ['patchline bank list --store DIR [--json]', 'patchline bank list --config FILE [--recipe NAME]'],
  options: { ...STORE_OPTIONS, json: { type: 'boolean', help: 'print JSON instead of a table' } },
};

export async function runBankList(argv: string[]): Promise<void> {
  const v = parseCommand(bankListCommand, argv);
  if (!v) return;
  const { store } = storeFromOptions(bankListCommand, v);
  const versions = await store.versions();
  if (v.json) {
    process.stdout.write(`${JSON.stringify(versions, null, 2)}\n`);
    return;
  }
  if (versions.length === 0) {
    process.stdout.write(`${store.dir}: no versions yet ('patchline bank import' or 'patchline teach')\n`);
    return;
  }
  const rows = versions.map((x) => [
    `${x.active ? '*' : ' '} ${x.id}`,
    x.createdAt?.replace('T', ' ').slice(0, 19) ?? '?',
    x.error ? `unreadable: ${x.error}` : `${x.origin?.action ?? 'fit'}${x.origin?.parent ? ` from ${x.origin.parent}` : ''}`,
    x.rows !== undefined ? `${x.rows} rows` : '',
    x.threshold !== undefined ? `threshold ${Number.isFinite(x.threshold) ? x.threshold.toFixed(3) : 'none'} (${x.calibration})` : '',
    x.origin?.note ?? '',
  ]);
  const widths = rows[0]!.map((_, i) => Math.max(...rows.map((r) => r[i]!.length)));
  for (const r of rows)
    process.stdout.write(
      `${r
        .map((c, i) => c.padEnd(widths[i]!))
        .join('  ')
        .trimEnd()}\n`,
    );
}
