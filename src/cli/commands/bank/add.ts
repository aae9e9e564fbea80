// `patchline bank add`: good images (false alarms an operator marked) into the active bank
// without a refit, as a new version.
import { addImages } from '../../../recipes/bank-operations.js';
import { intOption, parseCommand, requireString, type CommandSpec } from '../../args.js';
import { MODEL_DIR_OPTION } from '../../common-options.js';
import { progress } from '../../progress.js';
import {
  ACTOR_OPTION,
  actorOf,
  backboneOptions,
  imagesIn,
  runtimeFor,
  STORE_OPTIONS,
  storeFromOptions,
  versionOption,
} from './store-options.js';

export const bankAddCommand: CommandSpec = {
  name: 'bank add',
  summary: 'add good images to the active version without refitting (a new version)',
  usage: ['patchline bank add --store DIR --images DIR [--budget ROWS] [--activate]'],
  options: {
    ...STORE_OPTIONS,
    images: { type: 'string', value: 'DIR', help: 'folder of good images (or an MVTec category: its train/good)' },
    budget: { type: 'string', value: 'ROWS', help: "rows to add (default: the bank's coreset share of the new patches)" },
    from: { type: 'string', value: 'N', help: 'start from this version instead of the active one' },
    activate: { type: 'boolean', help: 'make the new version active' },
    json: { type: 'boolean', help: 'print the result as JSON on stdout' },
    actor: ACTOR_OPTION,
    batch: { type: 'string', value: 'N', default: '8', help: 'images per backbone run' },
    'model-dir': MODEL_DIR_OPTION,
    backbone: { type: 'string', value: 'SPEC_OR_ONNX', help: "backbone instead of the bank's (same file: sha256 is checked)" },
  },
  notes:
    'The greedy coreset continues from the rows already in the bank; the threshold is recalibrated on the held-out images the fit recorded.',
};

export async function runBankAdd(argv: string[]): Promise<void> {
  const cmd = bankAddCommand;
  const v = parseCommand(cmd, argv);
  if (!v) return;
  const folder = requireString(cmd, v, 'images');
  const { store, config } = storeFromOptions(cmd, v);
  const files = imagesIn(cmd, folder);
  const runtime = runtimeFor(config);
  try {
    const t0 = performance.now();
    const r = await addImages(
      runtime,
      store,
      backboneOptions(v, config),
      {
        files,
        folder,
        budget: v.budget !== undefined ? intOption(cmd, v, 'budget') : undefined,
        batchSize: intOption(cmd, v, 'batch'),
        from: versionOption(cmd, v, 'from'),
        activate: v.activate === true,
      },
      { actor: actorOf(v) },
      { stage: (name, total, unit) => progress(name, total, unit) },
    );
    const x = r.result;
    if (v.json) {
      process.stdout.write(
        `${JSON.stringify({ version: r.version, id: r.id, file: r.file, rows: x.manifest.coreset.rows, images: files.length, added: x.added, patches: x.patches, calibration: x.manifest.calibration, thresholdBefore: x.threshold.before, thresholdHow: x.threshold.how })}\n`,
      );
    }
    process.stderr.write(
      `wrote ${r.id}: ${x.added} rows added from ${x.patches} patches of ${files.length} images (bank ${x.manifest.coreset.rows} rows); ` +
        `threshold ${x.threshold.before.toFixed(3)} -> ${x.threshold.after.toFixed(3)} (${x.threshold.how}); ` +
        `${((performance.now() - t0) / 1000).toFixed(1)} s${v.activate ? '; active' : `; activate with 'patchline bank activate --store ${store.dir} --name ${store.name} --version ${r.version}'`}\n`,
    );
  } finally {
    await runtime.close();
  }
}
