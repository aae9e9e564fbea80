// `patchline tune`: search recipes (layers, input geometry, head dims, coreset share, k, sigma)
// for a product on this box, accuracy on a labelled validation folder against measured frames/s;
// writes the Pareto report, the plot, and the recommended recipe's bank and config snippet.
import { existsSync, realpathSync, statSync, writeFileSync } from 'node:fs';
import { cpus, totalmem } from 'node:os';
import { join, resolve } from 'node:path';
import { testSamples, trainingImages, type TestSample } from '../../io/dataset.js';
import { backboneSha256 } from '../../model/backbone.js';
import { InferenceRuntime } from '../../model/inference-runtime.js';
import { unsavedBank, writeBank } from '../../patchcore/bank-file.js';
import { FIT_DEFAULTS } from '../../patchcore/fit.js';
import { readImage } from '../../preprocess/decode.js';
import { evaluateBank, fitRecipe, type FitSettings } from '../../tune/measure.js';
import { METRICS, recommend, type Accuracy, type Metric } from '../../tune/pareto.js';
import { writeParetoPlot } from '../../tune/plot.js';
import { configSnippet, fitArgs, tuneReport, type SeedRun } from '../../tune/report.js';
import { searchRecipes } from '../../tune/search.js';
import { defaultSearchSpace, parseDims, parseResize, type SearchSpace } from '../../tune/search-space.js';
import { TuneLog, TuneLogError } from '../../tune/tune-log.js';
import {
  intOption,
  numberOption,
  optionalString,
  parseCommand,
  requireString,
  UsageError,
  type CommandSpec,
  type ParsedOptions,
} from '../args.js';
import { BACKBONE_OPTIONS, backboneArg, HEAD_OPTIONS, listOption, MODEL_DIR_OPTION } from '../common-options.js';
import { progress } from '../progress.js';

/** Fewer defective validation images than this make AUROC differences between recipes mostly noise. */
const FEW_DEFECTS = 20;

export const tuneCommand: CommandSpec = {
  name: 'tune',
  summary: 'search recipes for a product on this box: accuracy on a validation folder against frames/s',
  usage: ['patchline tune --data DIR --validation DIR --out DIR [--budget MINUTES] [--min-fps N] [--test DIR]'],
  options: {
    data: { type: 'string', value: 'DIR', help: 'good training images: MVTec-layout category (train/good) or a folder' },
    validation: {
      type: 'string',
      value: 'DIR',
      help: 'labelled folder (good/ and one folder per defect; masks in ../ground_truth optional) to rank recipes on; never the test folder',
    },
    test: { type: 'string', value: 'DIR', help: 'held-out labelled folder: the recommended bank is evaluated on it once, at the end' },
    out: { type: 'string', value: 'DIR', help: 'results (resumed when run again), report.md, pareto.png, recommended.bank, recipe.yaml' },
    budget: {
      type: 'string',
      value: 'MINUTES',
      default: '30',
      help: 'time for the search; the recommended bank and its second seed are fitted after it',
    },
    'min-fps': {
      type: 'string',
      value: 'N',
      default: '0',
      help: 'frames/s the recipe must reach on this machine (scoring path, batches of one)',
    },
    metric: {
      type: 'string',
      value: 'M',
      default: 'image_auroc',
      help: `what "most accurate" means: ${METRICS.join(', ')} (pixel metrics need masks)`,
    },
    backbone: BACKBONE_OPTIONS.backbone!,
    'layer-sets': {
      type: 'string',
      value: 'a,b;c,d',
      help: "layer sets to try, ';'-separated (default: the backbone's tuning list, else its default layers and neighbouring pairs)",
    },
    sizes: {
      type: 'string',
      value: 'LIST',
      help: 'input geometries to try: RESIZE/CROP (shorter side, centre crop) or WxH (whole image), comma-separated (default: 256/224 and the whole image at 224, 320 and 448)',
    },
    dims: { type: 'string', value: 'LIST', default: '1024/1024,256/512', help: 'PRETRAIN/TARGET head dims to try, comma-separated' },
    coreset: { type: 'string', value: 'LIST', default: '0.01,0.05,0.1', help: 'coreset shares to try (one fit serves all of them)' },
    k: { type: 'string', value: 'LIST', default: '1', help: 'nearest neighbours to try' },
    sigma: { type: 'string', value: 'LIST', default: '4,8,16', help: 'anomaly-map smoothing to try (pixels)' },
    patchsize: HEAD_OPTIONS.patchsize!,
    holdout: {
      type: 'string',
      value: 'SHARE',
      default: String(FIT_DEFAULTS.holdout),
      help: "share of the good images kept out of each bank to set the recommended bank's threshold",
    },
    seed: {
      type: 'string',
      value: 'N',
      default: '0',
      help: 'coreset seed of the search (the report adds seed N+1 for the recommended recipe)',
    },
    fresh: { type: 'boolean', help: 'discard the results already in --out instead of resuming' },
    'work-dir': { type: 'string', value: 'DIR', help: 'folder for the temporary embedding files (default: OS temp)' },
    'model-dir': MODEL_DIR_OPTION,
    threads: BACKBONE_OPTIONS.threads!,
  },
  notes:
    'Each embedding recipe (layers, input, dims) is fitted once; its coreset shares, k and sigma reuse that fit. The search starts at ' +
    "patchline fit's defaults and moves one axis at a time from the best recipe so far. Interrupted? Run the same command again: finished " +
    'candidates are kept in OUT/candidates.jsonl.',
};

/** The folder testSamples reads for DIR: DIR/test of a category, else DIR itself. */
function labelledFolder(dir: string): string {
  const test = join(dir, 'test');
  return realpathSync(existsSync(test) && statSync(test).isDirectory() ? test : dir);
}

function numberList(cmd: CommandSpec, v: ParsedOptions, key: string, check: (n: number) => boolean, what: string): number[] {
  const items = listOption(v, key) ?? [];
  const values = items.map(Number);
  const bad = items.find((_, i) => !check(values[i]!));
  if (bad !== undefined || values.length === 0)
    throw new UsageError(`patchline ${cmd.name}: --${key} must list ${what}, got '${String(v[key])}'`);
  return [...new Set(values)];
}

function parsed<T>(cmd: CommandSpec, key: string, items: string[], parse: (s: string) => T): T[] {
  try {
    return items.map(parse);
  } catch (e) {
    throw new UsageError(`patchline ${cmd.name}: --${key}: ${(e as Error).message}`);
  }
}

function searchSpace(cmd: CommandSpec, v: ParsedOptions, base: SearchSpace, layerNames: string[] | undefined): SearchSpace {
  const sets = optionalString(v, 'layer-sets')
    ?.split(';')
    .map((s) =>
      s
        .split(',')
        .map((x) => x.trim())
        .filter(Boolean),
    )
    .filter((s) => s.length > 0);
  if (sets && layerNames?.length) {
    const unknown = sets.flat().find((l) => !layerNames.includes(l));
    if (unknown)
      throw new UsageError(`patchline ${cmd.name}: --layer-sets: the backbone has no layer '${unknown}' (known: ${layerNames.join(', ')})`);
  }
  const sizes = listOption(v, 'sizes');
  return {
    layerSets: sets?.length ? sets : base.layerSets,
    resizes: sizes ? parsed(cmd, 'sizes', sizes, parseResize) : base.resizes,
    dims: parsed(cmd, 'dims', listOption(v, 'dims') ?? [], parseDims),
    coresets: numberList(cmd, v, 'coreset', (n) => n > 0 && n <= 1, 'shares in (0, 1]').sort((a, b) => a - b),
    ks: numberList(cmd, v, 'k', (n) => Number.isInteger(n) && n >= 1, 'integers >= 1'),
    sigmas: numberList(cmd, v, 'sigma', (n) => n >= 0, 'numbers >= 0'),
    patchsize: intOption(cmd, v, 'patchsize'),
  };
}

export async function runTune(argv: string[]): Promise<void> {
  const cmd = tuneCommand;
  const v = parseCommand(cmd, argv);
  if (!v) return;
  const data = resolve(requireString(cmd, v, 'data'));
  const validationDir = resolve(requireString(cmd, v, 'validation'));
  const testDir = optionalString(v, 'test');
  const out = resolve(requireString(cmd, v, 'out'));
  const budgetMinutes = numberOption(cmd, v, 'budget', { min: 0 });
  const minFps = numberOption(cmd, v, 'min-fps', { min: 0 });
  const metric = String(v.metric) as Metric;
  if (!METRICS.includes(metric)) throw new UsageError(`patchline tune: --metric must be one of ${METRICS.join(', ')}, got '${metric}'`);
  const holdout = numberOption(cmd, v, 'holdout', { min: 0, max: 0.9 });
  if (holdout <= 0)
    throw new UsageError('patchline tune: --holdout must be > 0: the recommended bank needs held-out good images for its threshold');
  const seed = intOption(cmd, v, 'seed', 0);
  const backboneRef = optionalString(v, 'backbone') ?? 'mobilenetv2';
  const backbone = backboneArg(cmd, v, backboneRef, '--backbone: ');

  let training: string[];
  let validation: TestSample[];
  let test: TestSample[] | undefined;
  try {
    training = trainingImages(data);
    validation = testSamples(validationDir);
    test = testDir ? testSamples(testDir) : undefined;
  } catch (e) {
    throw new UsageError(`patchline tune: ${(e as Error).message}`);
  }
  // Ranking recipes on the folder that later judges them reports the luck of the search as accuracy.
  const valFolder = labelledFolder(validationDir);
  if (existsSync(join(data, 'test')) && labelledFolder(data) === valFolder)
    throw new UsageError(
      `patchline tune: --validation ${validationDir} is the test folder of --data (${valFolder}): split off a validation folder and keep the test folder for the end (--test)`,
    );
  if (testDir && labelledFolder(testDir) === valFolder)
    throw new UsageError(
      `patchline tune: --validation and --test are the same folder (${valFolder}): the test folder must stay unseen by the search`,
    );
  const defective = validation.filter((s) => s.label === 1).length;
  if (defective < FEW_DEFECTS)
    process.stderr.write(
      `warning: the validation folder has ${defective} defective image(s); with fewer than ${FEW_DEFECTS} the differences between recipes are mostly chance\n`,
    );

  const first = await readImage(training[0]!, 'rgb');
  const space = searchSpace(cmd, v, defaultSearchSpace(backbone, first.width / first.height), Object.keys(backbone.spec.layers));
  let log: TuneLog;
  try {
    log = TuneLog.open(
      out,
      { data, validation: valFolder, backboneSha256: backboneSha256(backbone), holdout, seed },
      { fresh: v.fresh === true },
    );
  } catch (e) {
    if (e instanceof TuneLogError) throw new UsageError(`patchline tune: --out: ${e.message}`);
    throw e;
  }
  if (log.skippedLines)
    process.stderr.write(`tune: ${log.skippedLines} unreadable line(s) in ${log.resultsPath} ignored (cut off by an interruption?)\n`);
  if (log.results.length) process.stderr.write(`tune: resuming with ${log.results.length} candidate(s) measured before in ${out}\n`);

  const threads = v.threads !== undefined ? intOption(cmd, v, 'threads') : undefined;
  const runtime = new InferenceRuntime(threads ? { intraOpThreads: threads } : {});
  const settings: FitSettings = {
    backbone,
    backboneRef,
    training,
    data,
    holdout,
    seed,
    ...(optionalString(v, 'work-dir') ? { workDir: optionalString(v, 'work-dir') } : {}),
  };
  const quietFit = { stage: (name: string, total: number, unit: string) => progress(`  ${name}`, total, unit) };
  try {
    const outcome = await searchRecipes(
      runtime,
      { fit: settings, validation, space, metric, minFps, budgetMs: budgetMinutes * 60_000 },
      log,
      { info: (line) => process.stderr.write(`${line}\n`), progress },
    );
    const rec = recommend(outcome.results, metric, minFps)!;
    const chosen = rec.chosen;
    process.stderr.write(`tune: recommended ${chosen.id}; fitting its bank (seeds ${seed} and ${seed + 1})\n`);

    const seeds: SeedRun[] = [];
    let testResult: { path: string; accuracy: Accuracy } | undefined;
    const bankPath = join(out, 'recommended.bank');
    for (const s of [seed, seed + 1]) {
      const fit = await fitRecipe(runtime, { ...settings, seed: s }, chosen.embedding, chosen.variant, quietFit);
      const bank = unsavedBank(fit.manifest, fit.rows);
      if (s === seed) writeBank(bankPath, fit.manifest, fit.rows);
      const bar = progress(`  check seed ${s}`, validation.length, 'images');
      seeds.push({ seed: s, accuracy: await evaluateBank(runtime, bank, backbone, validation, (n) => bar.tick(n)) });
      bar.stop();
      if (s === seed && test) {
        const tbar = progress('  test', test.length, 'images');
        testResult = { path: labelledFolder(testDir!), accuracy: await evaluateBank(runtime, bank, backbone, test, (n) => tbar.tick(n)) };
        tbar.stop();
      }
    }
    const configPath = join(out, 'recipe.yaml');
    const summary = {
      data,
      validation: {
        path: valFolder,
        images: validation.length,
        good: validation.length - defective,
        defective,
        masked: validation.filter((s) => s.maskPath).length,
      },
      backbone: backboneRef,
      metric,
      minFps,
      budgetMinutes,
      machine: `${cpus()[0]?.model ?? '?'} x ${cpus().length} threads, ${(totalmem() / 2 ** 30).toFixed(0)} GiB`,
      results: outcome.results,
      recommended: chosen,
      belowFloor: rec.belowFloor,
      seeds,
      ...(testResult ? { test: testResult } : {}),
      skipped: outcome.skipped,
      bankPath,
      configPath,
      plotFile: 'pareto.png',
    };
    const args = fitArgs({ data, backbone: backboneRef, holdout, seed }, chosen.embedding, chosen.variant);
    writeFileSync(configPath, configSnippet(summary));
    await writeParetoPlot(join(out, 'pareto.png'), outcome.results, metric, minFps, chosen);
    writeFileSync(join(out, 'report.md'), tuneReport(summary, args));
    writeFileSync(
      join(out, 'recommended.json'),
      `${JSON.stringify({ candidate: chosen, belowFloor: rec.belowFloor, fitArgs: args, seeds, test: testResult ?? null }, null, 2)}\n`,
    );
    const m = chosen.accuracy;
    process.stdout.write(
      `recommended: ${chosen.id}\n` +
        `  validation image AUROC ${m.image_auroc.toFixed(4)}, pixel AUROC ${m.pixel_auroc?.toFixed(4) ?? 'n/a'}, ${chosen.fps.toFixed(1)} frames/s` +
        `${rec.belowFloor ? ` (below --min-fps ${minFps}: no candidate reached it)` : ''}\n` +
        `  ${outcome.results.length} candidates (${outcome.measured.length} recipes measured now, ${outcome.resumed.length} resumed, ${outcome.skipped.length} left out)\n` +
        `wrote ${join(out, 'report.md')}, pareto.png, recommended.bank, recipe.yaml\n`,
    );
  } finally {
    await runtime.close();
  }
}
