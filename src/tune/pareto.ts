// Choosing among measured candidates: the accuracy/speed Pareto front and the recommendation
// under a frame-rate floor. Pure functions over the tune log's records.
import type { EmbeddingRecipe, ScoringVariant } from './search-space.js';

export const METRICS = ['image_auroc', 'pixel_auroc', 'aupro'] as const;
export type Metric = (typeof METRICS)[number];

export interface Accuracy {
  image_auroc: number;
  /** null: no validation image has a mask. */
  pixel_auroc: number | null;
  aupro: number | null;
}

export interface CandidateResult {
  id: string;
  embedding: EmbeddingRecipe;
  variant: ScoringVariant;
  accuracy: Accuracy;
  /** Frames/s of the scoring path (backbone, head, kNN, map) on this machine, measured. */
  fps: number;
  /** Bank rows at this coreset share. */
  bankRows: number;
  /** Seconds the embedding pass and coreset of this candidate's embedding recipe took. */
  fitSeconds: number;
}

/** The candidate's value of `metric`, or of image AUROC where the metric is unavailable (no masks). */
export function accuracyOf(r: CandidateResult, metric: Metric): number {
  return r.accuracy[metric] ?? r.accuracy.image_auroc;
}

/**
 * Accuracy compared at three decimals: smaller differences are noise on any validation folder a
 * line has, so they count as ties and the next metric, then speed, decides.
 */
function level(r: CandidateResult, metric: Metric): number {
  return Math.round(accuracyOf(r, metric) * 1000);
}

/** Negative when `a` is more accurate than `b`: `metric` first, then the other metrics. */
function accuracyRank(a: CandidateResult, b: CandidateResult, metric: Metric): number {
  for (const m of [metric, ...METRICS.filter((x) => x !== metric)]) {
    const d = level(b, m) - level(a, m);
    if (d !== 0) return d;
  }
  return 0;
}

/** Order (negative: `a` first): more accurate, then faster. */
export function better(a: CandidateResult, b: CandidateResult, metric: Metric): number {
  return accuracyRank(a, b, metric) || b.fps - a.fps;
}

/** Candidates no faster one matches on accuracy (in `better`'s order), fastest first. */
export function paretoFront(results: CandidateResult[], metric: Metric): CandidateResult[] {
  const front: CandidateResult[] = [];
  for (const r of [...results].sort((a, b) => b.fps - a.fps || better(a, b, metric))) {
    const last = front[front.length - 1];
    if (!last || accuracyRank(r, last, metric) < 0) front.push(r);
  }
  return front;
}

export interface Recommendation {
  chosen: CandidateResult;
  /** No candidate reached the floor: the fastest one is chosen instead. */
  belowFloor: boolean;
}

/** The most accurate candidate at or above `minFps` (the fastest one when none reaches it). */
export function recommend(results: CandidateResult[], metric: Metric, minFps = 0): Recommendation | undefined {
  if (results.length === 0) return undefined;
  const fast = results.filter((r) => r.fps >= minFps);
  if (fast.length === 0) return { chosen: [...results].sort((a, b) => b.fps - a.fps)[0]!, belowFloor: true };
  return { chosen: [...fast].sort((a, b) => better(a, b, metric))[0]!, belowFloor: false };
}
