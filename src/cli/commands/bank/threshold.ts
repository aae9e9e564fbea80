// `patchline bank threshold`: the active version's rows with another threshold, as a new
// version: a value, or the F1-best one on a labelled folder (the page's reviewed set).
import { testSamples } from '../../../io/dataset.js';
import { InferenceRuntime } from '../../../model/inference-runtime.js';
import { readBank } from '../../../patchcore/bank-file.js';
import { f1OptimalThreshold } from '../../../patchcore/calibration.js';
import { forEachBatch } from '../../../patchcore/fit.js';
import { bankBackbone, PatchCore } from '../../../patchcore/patchcore.js';
import { loadBatch } from '../../../preprocess/batch.js';
import { cliActor } from '../../../recipes/audit-log.js';
import { setThreshold } from '../../../recipes/bank-operations.js';
import { numberOption, optionalString, parseCommand, UsageError, type CommandSpec } from '../../args.js';
import { MODEL_DIR_OPTION } from '../../common-options.js';
import { progress } from '../../progress.js';
import { STORE_OPTIONS, storeFromOptions, versionOption } from './store-options.js';

export const bankThresholdCommand: CommandSpec = {
  name: 'bank threshold',
  summary: 'set the threshold (a value, or F1-best on reviewed images) as a new version',
  usage: [
    'patchline bank threshold --store DIR --value T [--activate]',
    'patchline bank threshold --store DIR --reviewed DIR [--activate]',
  ],
  options: {
    ...STORE_OPTIONS,
    value: { type: 'string', value: 'T', help: 'the threshold' },
    reviewed: {
      type: 'string',
      value: 'DIR',
      help: "labelled folder (MVTec test layout, e.g. the page's reviewed/): the F1-best threshold on it",
    },
    from: { type: 'string', value: 'N', help: 'start from this version instead of the active one' },
    activate: { type: 'boolean', help: 'make the new version active' },
    'model-dir': MODEL_DIR_OPTION,
  },
};

export async function runBankThreshold(argv: string[]): Promise<void> {
  const cmd = bankThresholdCommand;
  const v = parseCommand(cmd, argv);
  if (!v) return;
  const reviewed = optionalString(v, 'reviewed');
  if ((v.value === undefined) === (reviewed === undefined)) throw new UsageError(`patchline ${cmd.name}: give --value or --reviewed`);
  const { store, config } = storeFromOptions(cmd, v);
  const from = versionOption(cmd, v, 'from');
  let threshold: number;
  let note: string;
  let scores: number[] | undefined;
  if (reviewed) {
    const samples = (() => {
      try {
        return testSamples(reviewed);
      } catch (e) {
        throw new UsageError(`patchline ${cmd.name}: --reviewed: ${(e as Error).message}`);
      }
    })();
    if (!samples.some((s) => s.label === 1) || !samples.some((s) => s.label === 0))
      throw new UsageError(`patchline ${cmd.name}: --reviewed ${reviewed} needs both good and defect images`);
    const file = store.path(from ?? store.activeVersion() ?? 0);
    const bank = await readBank(file);
    const runtime = new InferenceRuntime();
    try {
      const model = await PatchCore.load(
        runtime,
        bank,
        bankBackbone(bank.manifest, {
          backbone: config?.model.backbone,
          modelDir: optionalString(v, 'model-dir') ?? config?.model.modelDir,
        }),
        'threshold',
      );
      const out = new Float64Array(samples.length);
      const bar = progress('score', samples.length, 'images');
      await forEachBatch(
        samples.map((s) => s.path),
        8,
        (paths) => loadBatch(paths, bank.manifest.input.resize, bank.manifest.input.normalization),
        async (batch, start) => {
          const p = await model.predict(batch);
          out.set(p.imageScores, start);
          bar.tick(p.imageScores.length);
        },
      );
      bar.stop();
      await model.release();
      const best = f1OptimalThreshold(
        out,
        samples.map((s) => s.label),
      );
      threshold = best.threshold;
      scores = Array.from(out);
      note = `F1-best on ${samples.length} reviewed images in ${reviewed} (F1 ${best.f1.toFixed(3)})`;
    } finally {
      await runtime.close();
    }
  } else {
    threshold = numberOption(cmd, v, 'value', { min: 0 });
    note = 'set by value';
  }
  const r = await setThreshold(
    store,
    threshold,
    { reviewed: scores, note },
    { from, activate: v.activate === true },
    { actor: cliActor() },
  );
  process.stderr.write(`wrote ${r.id}: threshold ${threshold.toFixed(3)} (${note})${v.activate ? '; active' : ''}\n`);
}
