// The search: start from what `patchline fit` does by default, then move along one axis at a
// time (input geometry, layers, head dims) from the best recipe so far, measuring every scoring
// variant of each embedding recipe, until the space or the time budget is used up. Finished
// candidates go to the log as they are measured, so a second run resumes where one stopped.
import type { TestSample } from '../io/dataset.js';
import type { InferenceRuntime } from '../model/inference-runtime.js';
import type { FitProgress } from '../patchcore/fit.js';
import { bankVariant, fitRecipe, ValidationScorer, type FitSettings } from './measure.js';
import { recommend, type CandidateResult, type Metric } from './pareto.js';
import {
  alongAxis,
  baseRecipe,
  EMBEDDING_AXES,
  embeddingId,
  inputPixels,
  variantId,
  variants,
  type EmbeddingRecipe,
  type ScoringVariant,
  type SearchSpace,
} from './search-space.js';
import type { TuneLog } from './tune-log.js';

export interface SearchOptions {
  fit: FitSettings;
  validation: TestSample[];
  space: SearchSpace;
  metric: Metric;
  minFps: number;
  /** Time for the search (the final fit of the recommended recipe comes after it). */
  budgetMs: number;
}

type Progress = ReturnType<FitProgress['stage']>;

export interface SearchEvents {
  /** A line for the user: what is being measured, time used and left. */
  info(line: string): void;
  progress(label: string, total: number, unit: string): Progress;
}

export interface SearchOutcome {
  /** Every measured candidate in the log, including those of earlier runs. */
  results: CandidateResult[];
  /** Embedding recipes measured in this run / taken from the log / left out for lack of time. */
  measured: string[];
  resumed: string[];
  skipped: string[];
}

/** Every embedding recipe the search can reach from the base, one axis at a time: the plan's upper bound. */
export function plannedRecipes(space: SearchSpace): number {
  return 1 + EMBEDDING_AXES.reduce((n, axis) => n + alongAxis(space, baseRecipe(space), axis).length, 0);
}

export async function searchRecipes(runtime: InferenceRuntime, o: SearchOptions, log: TuneLog, ev: SearchEvents): Promise<SearchOutcome> {
  const start = performance.now();
  const outcome: SearchOutcome = { results: [], measured: [], resumed: [], skipped: [] };
  const planned = plannedRecipes(o.space);
  /** What the recipes measured so far cost: the estimate for the next. */
  const costs: RecipeCost[] = [];
  const stride = (r: EmbeddingRecipe) => o.fit.backbone.spec.layers[r.layers[0]!]?.stride;
  const seen = new Set<string>();
  const fitProgress: FitProgress = { stage: (name, total, unit) => ev.progress(`  ${name}`, total, unit) };

  // A recipe that does not fit in the time left is left out; a cheaper one later in the plan may.
  const visit = async (recipe: EmbeddingRecipe): Promise<void> => {
    const id = embeddingId(recipe);
    if (seen.has(id)) return;
    seen.add(id);
    const all = variants(o.space);
    const missing = all.filter((v) => !log.get(variantId(recipe, v)));
    const n = seen.size;
    if (missing.length === 0) {
      outcome.resumed.push(id);
      ev.info(`tune: [${n}/${planned}] ${id}: measured before (${all.length} candidates in the log)`);
      return;
    }
    const elapsed = performance.now() - start;
    const estimate = costs.length
      ? mean(costs.map((c) => estimateMs(c, { pixels: inputPixels(recipe), stride: stride(recipe), missing })))
      : 0;
    if (costs.length && elapsed + estimate > o.budgetMs) {
      outcome.skipped.push(id);
      ev.info(`tune: [${n}/${planned}] ${id}: left out, about ${fmtMin(estimate)} with ${fmtMin(o.budgetMs - elapsed)} of the budget left`);
      return;
    }
    ev.info(
      `tune: [${n}/${planned}] ${id}: ${missing.length} candidates` +
        (costs.length ? `, about ${fmtMin(estimate)} (${fmtMin(o.budgetMs - elapsed)} of the budget left)` : ''),
    );
    const t0 = performance.now();
    const largest = Math.max(...missing.map((v) => v.coreset));
    const fit = await fitRecipe(runtime, o.fit, recipe, { coreset: largest, k: 1, sigma: missing[0]!.sigma }, fitProgress);
    const fitSeconds = (performance.now() - t0) / 1000;
    const t1 = performance.now();
    const scorer = new ValidationScorer(runtime, o.fit.backbone, o.validation);
    const groups = new Map<string, typeof missing>();
    for (const v of missing) groups.set(`${v.coreset}/${v.k}`, [...(groups.get(`${v.coreset}/${v.k}`) ?? []), v]);
    const bar = ev.progress('  score', groups.size * o.validation.length, 'images');
    try {
      for (const group of groups.values()) {
        const bank = bankVariant(fit, group[0]!);
        const measured = await scorer.measure(
          bank,
          group.map((v) => v.sigma),
          (k) => bar.tick(k),
        );
        group.forEach((variant, i) =>
          log.append({
            id: variantId(recipe, variant),
            embedding: recipe,
            variant,
            accuracy: measured.accuracy[i]!,
            fps: measured.fps,
            bankRows: bank.manifest.coreset.rows,
            fitSeconds,
          }),
        );
      }
    } finally {
      bar.stop();
    }
    costs.push({
      pixels: inputPixels(recipe),
      stride: stride(recipe),
      rows: fit.manifest.coreset.inputRows,
      share: largest,
      embedMs: fit.timings.embedMs + fit.timings.calibrateMs,
      coresetMs: fit.timings.coresetMs,
      scoreMs: performance.now() - t1,
      groups: groups.size,
    });
    outcome.measured.push(id);
  };

  const bestRecipe = (): EmbeddingRecipe => recommend(log.results, o.metric, o.minFps)!.chosen.embedding;
  let current = baseRecipe(o.space);
  await visit(current);
  for (const axis of EMBEDDING_AXES) {
    for (const recipe of alongAxis(o.space, current, axis)) await visit(recipe);
    current = bestRecipe();
  }
  outcome.results = log.results;
  return outcome;
}

export interface RecipeCost {
  pixels: number;
  /** Stride of the recipe's first layer (its patch grid), where the backbone spec gives it. */
  stride: number | undefined;
  /** Patches the coreset chose from, and the share it kept. */
  rows: number;
  share: number;
  embedMs: number;
  coresetMs: number;
  scoreMs: number;
  /** Scoring passes (coreset share x k). */
  groups: number;
}

/**
 * The time a recipe should take, scaled from one measured: embedding and scoring grow with the
 * input pixels, the greedy coreset with the square of the patches times the share kept.
 */
export function estimateMs(c: RecipeCost, next: { pixels: number; stride: number | undefined; missing: ScoringVariant[] }): number {
  const scale = next.pixels / c.pixels;
  const rows = c.rows * scale * (c.stride && next.stride ? (c.stride / next.stride) ** 2 : 1);
  const share = Math.max(...next.missing.map((v) => v.coreset));
  const groups = new Set(next.missing.map((v) => `${v.coreset}/${v.k}`)).size;
  return c.embedMs * scale + c.coresetMs * (rows / c.rows) ** 2 * (share / c.share) + (c.scoreMs / c.groups) * groups * scale;
}

function mean(xs: number[]): number {
  return xs.reduce((a, b) => a + b, 0) / xs.length;
}

function fmtMin(ms: number): string {
  return ms >= 60_000 ? `${(ms / 60_000).toFixed(1)} min` : `${Math.round(ms / 1000)} s`;
}
