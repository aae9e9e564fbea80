// What `patchline tune` leaves for the engineer: the Markdown report (recommendation, seed
// spread, held-out test, Pareto front, every candidate), the config snippet, and the `fit`
// command line that rebuilds the recommended bank.
import type { ResizePolicy } from '../preprocess/transform.js';
import { accuracyOf, better, paretoFront, type Accuracy, type CandidateResult, type Metric } from './pareto.js';
import { resizeLabel, type EmbeddingRecipe, type ScoringVariant } from './search-space.js';

export interface SeedRun {
  seed: number;
  accuracy: Accuracy;
}

export interface TuneSummary {
  data: string;
  validation: { path: string; images: number; good: number; defective: number; masked: number };
  backbone: string;
  metric: Metric;
  minFps: number;
  budgetMinutes: number;
  machine: string;
  results: CandidateResult[];
  recommended: CandidateResult;
  belowFloor: boolean;
  /** The recommended recipe refitted and evaluated as `patchline eval` does, per coreset seed. */
  seeds: SeedRun[];
  /** The recommended bank on a held-out labelled folder (--test). */
  test?: { path: string; accuracy: Accuracy };
  skipped: string[];
  bankPath: string;
  configPath: string;
  plotFile: string;
}

/** Arguments of `patchline fit` that rebuild the recommended bank (the tune's defaults otherwise). */
export function fitArgs(
  o: { data: string; backbone: string; holdout: number; seed: number },
  r: EmbeddingRecipe,
  v: ScoringVariant,
): string[] {
  return [
    'fit',
    '--data',
    o.data,
    '--backbone',
    o.backbone,
    '--layers',
    r.layers.join(','),
    ...resizeArgs(r.resize),
    '--patchsize',
    String(r.head.patchsize),
    '--pretrain-dim',
    String(r.head.pretrainDim),
    '--target-dim',
    String(r.head.targetDim),
    '--coreset',
    String(v.coreset),
    '--k',
    String(v.k),
    '--sigma',
    String(v.sigma),
    '--holdout',
    String(o.holdout),
    '--seed',
    String(o.seed),
  ];
}

function resizeArgs(r: ResizePolicy): string[] {
  return r.mode === 'exact' ? ['--size', `${r.width}x${r.height}`] : ['--resize', String(r.resize), '--crop', String(r.crop)];
}

export function configSnippet(s: Pick<TuneSummary, 'recommended' | 'metric' | 'data' | 'bankPath'>): string {
  const r = s.recommended;
  return [
    `# patchline tune: the recommended recipe for ${s.data}`,
    `#   ${r.id}`,
    `#   validation ${s.metric} ${fmt(accuracyOf(r, s.metric))}, ${r.fps.toFixed(1)} frames/s of the scoring path on the machine it was tuned on`,
    '# Merge into your config (or run it as is: patchline run --config THIS_FILE --set source.type=...).',
    'model:',
    `  bank: ${JSON.stringify(s.bankPath)}`,
    '',
  ].join('\n');
}

function fmt(x: number | null | undefined, digits = 4): string {
  return x === null || x === undefined || Number.isNaN(x) ? 'n/a' : x.toFixed(digits);
}

function row(r: CandidateResult, metric: Metric, mark = ''): string {
  const e = r.embedding;
  const v = r.variant;
  return (
    `| ${mark}${e.layers.join(' + ')} | ${resizeLabel(e.resize)} | ${e.head.pretrainDim}/${e.head.targetDim} | ${v.coreset} (${r.bankRows}) | ${v.k} | ${v.sigma} | ` +
    `${fmt(accuracyOf(r, metric))} | ${fmt(r.accuracy.image_auroc)} | ${fmt(r.accuracy.pixel_auroc)} | ${fmt(r.accuracy.aupro)} | ${r.fps.toFixed(1)} |`
  );
}

const HEADER =
  '| layers | input | dims | coreset (rows) | k | σ | ranked by | image AUROC | pixel AUROC | AUPRO | frames/s |\n|---|---|---|---|---:|---:|---:|---:|---:|---:|---:|';

export function tuneReport(s: TuneSummary, fit: string[]): string {
  const r = s.recommended;
  const v = s.validation;
  const seeds = s.seeds;
  const spread = (m: keyof Accuracy) => {
    const xs = seeds.map((x) => x.accuracy[m]).filter((x): x is number => x !== null);
    return xs.length > 1 ? fmt(Math.max(...xs) - Math.min(...xs)) : 'n/a';
  };
  const lines = [
    '# patchline tune report',
    '',
    `- training images: \`${s.data}\``,
    `- validation: \`${v.path}\` (${v.images} images: ${v.good} good, ${v.defective} defective, ${v.masked} with masks)`,
    `- backbone: ${s.backbone}; ranked by ${s.metric}; frame-rate floor ${s.minFps} frames/s; budget ${s.budgetMinutes} min`,
    `- machine: ${s.machine}; frames/s are of the scoring path (backbone, head, kNN, anomaly map; batches of one, as the service runs it by default) measured here`,
    '',
    '## Recommended recipe',
    '',
    s.belowFloor
      ? `**No candidate reached ${s.minFps} frames/s on this machine**: the fastest one is shown. A lighter backbone, a smaller input or a faster machine is needed.`
      : `The most accurate candidate at or above ${s.minFps} frames/s:`,
    '',
    HEADER,
    row(r, s.metric),
    '',
    `Bank: \`${s.bankPath}\`; config snippet: \`${s.configPath}\`. The same bank from the command line:`,
    '',
    '```sh',
    `patchline ${fit.map((a) => (/^[\w./,:+=@-]+$/.test(a) ? a : JSON.stringify(a))).join(' ')} --out BANK`,
    '```',
    '',
    '### Refitted and evaluated as `patchline eval` does, two coreset seeds',
    '',
    '| seed | image AUROC | pixel AUROC | AUPRO |',
    '|---:|---:|---:|---:|',
    ...seeds.map((x) => `| ${x.seed} | ${fmt(x.accuracy.image_auroc)} | ${fmt(x.accuracy.pixel_auroc)} | ${fmt(x.accuracy.aupro)} |`),
    `| spread | ${spread('image_auroc')} | ${spread('pixel_auroc')} | ${spread('aupro')} |`,
    '',
    ...(s.test
      ? [
          '### Held-out test folder',
          '',
          `\`${s.test.path}\` (never seen by the search): image AUROC ${fmt(s.test.accuracy.image_auroc)}, pixel AUROC ${fmt(s.test.accuracy.pixel_auroc)}, AUPRO ${fmt(s.test.accuracy.aupro)}.`,
          '',
        ]
      : []),
    '## Accuracy against frames/s',
    '',
    `![${s.metric} against frames/s](${s.plotFile})`,
    '',
    '### Pareto front (no faster candidate is as accurate)',
    '',
    HEADER,
    ...paretoFront(s.results, s.metric).map((x) => row(x, s.metric, x.id === r.id ? '**→** ' : '')),
    '',
    `### Every candidate (${s.results.length}), most accurate first (accuracy compared at three decimals, then speed)`,
    '',
    HEADER,
    ...[...s.results].sort((a, b) => better(a, b, s.metric)).map((x) => row(x, s.metric)),
    '',
  ];
  if (s.skipped.length)
    lines.push(
      '### Left out for lack of time',
      '',
      ...s.skipped.map((id) => `- ${id}`),
      '',
      'Run again with a larger `--budget` (and the same `--out`) to measure them; finished candidates are kept.',
      '',
    );
  return lines.join('\n');
}
