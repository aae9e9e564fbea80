// `patchline teach`: capture good tiles from the configured source exactly as `run` tiles them,
// fit a bank on them with the settings of the running one, and store it as a recipe's next
// version (activated with --activate). The service's Teach button runs this in a child process
// on the frames it captured (--images), so inspection goes on meanwhile.
import { firstValueFrom, NEVER, take, toArray } from 'rxjs';
import { readBankManifest, type BankManifest } from '../../patchcore/bank-file.js';
import { frameStream } from '../../pipeline/frame-stream.js';
import { teachVersion } from '../../recipes/bank-operations.js';
import { BankStore } from '../../recipes/bank-store.js';
import { FrameCapture, teachFolder } from '../../recipes/teach-capture.js';
import type { Config } from '../../config/schema.js';
import { intOption, numberOption, optionalString, parseCommand, UsageError, type CommandSpec } from '../args.js';
import { MODEL_DIR_OPTION } from '../common-options.js';
import { progress } from '../progress.js';
import { ACTOR_OPTION, actorOf, backboneOptions, imagesIn, runtimeFor, STORE_OPTIONS, storeFromOptions } from './bank/store-options.js';

export const teachCommand: CommandSpec = {
  name: 'teach',
  summary: "capture good frames from the line and fit a recipe's next bank version on them",
  usage: [
    'patchline teach --config FILE --recipe NAME --frames N [--activate]',
    'patchline teach --store DIR --images DIR --like BANK [--activate]',
  ],
  options: {
    ...STORE_OPTIONS,
    frames: { type: 'string', value: 'N', help: "frames (line-scan: tiles) to capture from the config's source" },
    images: { type: 'string', value: 'DIR', help: 'instead of capturing: fit on these good images' },
    like: {
      type: 'string',
      value: 'BANK',
      help: "bank whose settings to fit with (backbone, layers, head, input, coreset, k); default: the store's active version, else the bank the config runs",
    },
    holdout: { type: 'string', value: 'SHARE', default: '0.1', help: 'share of the frames kept out of the bank to set the threshold' },
    batch: { type: 'string', value: 'N', default: '8', help: 'images per backbone run' },
    activate: { type: 'boolean', help: 'make the new version active (a running service swaps it in)' },
    json: { type: 'boolean', help: 'print the result as JSON on stdout' },
    actor: ACTOR_OPTION,
    'model-dir': MODEL_DIR_OPTION,
    backbone: { type: 'string', value: 'SPEC_OR_ONNX', help: "backbone instead of the bank's (same file: sha256 is checked)" },
  },
  notes: 'Progress goes to stderr (PATCHLINE_PROGRESS=json: one JSON object a line).',
};

/** The bank to fit like: --like, the store's active version, else what the config runs (model.bank or model.recipe's active version). */
async function likeManifest(cmd: CommandSpec, like: string | undefined, store: BankStore, config?: Config): Promise<BankManifest> {
  const active = store.activeVersion();
  const running = (): string | undefined => {
    if (config?.model.bank) return config.model.bank;
    const recipe = config?.model.recipe ? config.recipes[config.model.recipe] : undefined;
    if (!recipe) return undefined;
    try {
      return BankStore.open(recipe.store).activePath();
    } catch {
      return undefined;
    }
  };
  const file = like ?? (active !== undefined ? store.path(active) : running());
  if (!file)
    throw new UsageError(
      `patchline ${cmd.name}: --like BANK is required for the first version of ${store.name} (the bank whose backbone, layers, head and input size to fit with)`,
    );
  try {
    return (await readBankManifest(file)).manifest;
  } catch (e) {
    throw new UsageError(`patchline ${cmd.name}: --like: ${(e as Error).message}`);
  }
}

/** N frames from the configured source, as `run` would score them, written into `dir`. */
async function captureFrames(config: Config, tile: { width: number; height: number }, n: number, dir: string): Promise<void> {
  const capture = new FrameCapture(dir, n);
  const bar = progress('capture', n, 'frames');
  const log = (s: string) => process.stderr.write(`teach: ${s}\n`);
  const stream = frameStream(
    config,
    tile,
    { room: () => Promise.resolve() },
    {
      onBadFrame: (what, e) => log(`skipped ${what}: ${e.message}`),
      onReconnect: (_a, _d, e) => log(`source lost: ${e.message}`),
      onState: () => {},
      onBacklog: () => {},
    },
    NEVER,
    { onBadChunk: (chunk, e) => log(`line chunk ${chunk.seq}: ${e.message}`), onLines: () => {} },
  );
  const frames = await firstValueFrom(stream.frames.pipe(take(n), toArray()));
  for (const f of frames) {
    capture.keep(f.image);
    bar.tick();
  }
  await capture.flushed();
  bar.stop();
  if (capture.count < n) throw new Error(`the source ended after ${capture.count} of ${n} frames`);
}

export async function runTeach(argv: string[]): Promise<void> {
  const cmd = teachCommand;
  const v = parseCommand(cmd, argv);
  if (!v) return;
  const imagesDir = optionalString(v, 'images');
  if ((v.frames === undefined) === (imagesDir === undefined))
    throw new UsageError(`patchline ${cmd.name}: give --frames N (capture) or --images DIR`);
  const { store, config } = storeFromOptions(cmd, v, { create: true });
  const like = await likeManifest(cmd, optionalString(v, 'like'), store, config);
  let folder: string;
  if (imagesDir) folder = imagesDir;
  else {
    if (!config) throw new UsageError(`patchline ${cmd.name}: capturing needs --config (its source); or give --images DIR`);
    const frames = intOption(cmd, v, 'frames', 2);
    folder = teachFolder(store);
    await captureFrames(config, like.input, frames, folder);
    process.stderr.write(`teach: ${frames} frames in ${folder}\n`);
  }
  const files = imagesIn(cmd, folder);
  const runtime = runtimeFor(config);
  try {
    const r = await teachVersion(
      runtime,
      store,
      backboneOptions(v, config),
      {
        files,
        folder,
        like,
        batchSize: intOption(cmd, v, 'batch'),
        holdout: numberOption(cmd, v, 'holdout', { min: 0.01, max: 0.5 }),
        activate: v.activate === true,
      },
      { actor: actorOf(v) },
      { stage: (stage, total, unit) => progress(stage, total, unit) },
    );
    const c = r.manifest.calibration;
    if (v.json) {
      process.stdout.write(
        `${JSON.stringify({ version: r.version, id: r.id, file: r.file, rows: r.manifest.coreset.rows, images: files.length, calibration: c, scores: r.result.calibrationScores })}\n`,
      );
    }
    process.stderr.write(
      `wrote ${r.id}: ${r.manifest.coreset.rows} rows from ${files.length - c.scores.count} images; held-out scores (${c.scores.count}) ` +
        `min ${c.scores.min.toFixed(3)} median ${c.scores.median.toFixed(3)} max ${c.scores.max.toFixed(3)}; proposed threshold ${c.threshold.toFixed(3)}` +
        `${v.activate ? '; active' : `; activate with 'patchline bank activate --store ${store.dir} --name ${store.name} --version ${r.version}'`}\n`,
    );
  } finally {
    await runtime.close();
  }
}
