// What `patchline tune` tries. A candidate is an embedding recipe (layers, input geometry, head
// dims: each needs its own pass of the backbone over the training images) times scoring variants
// (coreset share, k, smoothing: they reuse that pass). Pure: no file, no model.
import type { ResolvedBackbone } from '../model/backbone.js';
import type { HeadParams } from '../patchcore/embedder.js';
import { FIT_DEFAULTS } from '../patchcore/fit.js';
import { outputSize, type ResizePolicy } from '../preprocess/transform.js';

export interface EmbeddingRecipe {
  layers: string[];
  resize: ResizePolicy;
  head: HeadParams;
}

export interface ScoringVariant {
  coreset: number;
  k: number;
  sigma: number;
}

export interface SearchSpace {
  layerSets: string[][];
  resizes: ResizePolicy[];
  /** [pretrainDim, targetDim] pairs. */
  dims: [number, number][];
  coresets: number[];
  ks: number[];
  sigmas: number[];
  patchsize: number;
}

/** The axes the search moves along one at a time, cheapest to change first. */
export const EMBEDDING_AXES = ['resize', 'layers', 'dims'] as const;
export type EmbeddingAxis = (typeof EMBEDDING_AXES)[number];

/** "256/224" (shorter side, centre crop) or "WxH" (whole image at exactly that size). */
export function parseResize(text: string): ResizePolicy {
  const crop = /^(\d+)\/(\d+)$/.exec(text);
  if (crop) {
    const [resize, c] = [Number(crop[1]), Number(crop[2])];
    if (!(c > 0 && c <= resize)) throw new RangeError(`'${text}': the crop must be positive and at most the resize`);
    return { mode: 'shorter-side', resize, crop: c };
  }
  const exact = /^(\d+)x(\d+)$/.exec(text);
  if (exact && Number(exact[1]) > 0 && Number(exact[2]) > 0) return { mode: 'exact', width: Number(exact[1]), height: Number(exact[2]) };
  throw new RangeError(`'${text}': expected RESIZE/CROP (e.g. 256/224) or WxH (e.g. 320x320)`);
}

export function resizeLabel(r: ResizePolicy): string {
  return r.mode === 'exact' ? `${r.width}x${r.height}` : `${r.resize}/${r.crop}`;
}

/** "256/512" -> [256, 512]. */
export function parseDims(text: string): [number, number] {
  const m = /^(\d+)\/(\d+)$/.exec(text);
  if (!m || !(Number(m[1]) > 0 && Number(m[2]) > 0)) throw new RangeError(`'${text}': expected PRETRAIN/TARGET dims (e.g. 256/512)`);
  return [Number(m[1]), Number(m[2])];
}

/**
 * The whole image at a model size whose shorter side is `side`: square for roughly square
 * images, else the image's aspect kept with the longer side rounded to a multiple of 32.
 */
export function wholeImageSize(side: number, aspect: number): ResizePolicy {
  if (aspect >= 2 / 3 && aspect <= 3 / 2) return { mode: 'exact', width: side, height: side };
  const long = Math.max(side, Math.round((side * Math.max(aspect, 1 / aspect)) / 32) * 32);
  return aspect > 1 ? { mode: 'exact', width: long, height: side } : { mode: 'exact', width: side, height: long };
}

/**
 * Layer sets worth trying: the backbone's tuning list where it has one, else its default
 * layers and each pair of neighbouring layers of different stride.
 */
export function defaultLayerSets(backbone: ResolvedBackbone): string[][] {
  const spec = backbone.spec;
  if (spec.tuneLayerSets?.length) return spec.tuneLayerSets.map((s) => [...s]);
  const sets = [spec.defaultLayers];
  const names = Object.keys(spec.layers);
  for (let i = 0; i + 1 < names.length; i++) {
    const [a, b] = [spec.layers[names[i]!]!, spec.layers[names[i + 1]!]!];
    if (a.stride !== undefined && a.stride !== b.stride) sets.push([names[i]!, names[i + 1]!]);
  }
  return uniqueBy(
    sets.filter((s) => s.length > 0),
    (s) => s.join(','),
  );
}

/** The default space for a backbone and images of the given aspect (width / height). */
export function defaultSearchSpace(backbone: ResolvedBackbone, aspect: number): SearchSpace {
  return {
    layerSets: defaultLayerSets(backbone),
    resizes: uniqueBy([FIT_DEFAULTS.resize, ...[224, 320, 448].map((s) => wholeImageSize(s, aspect))], resizeLabel),
    dims: [
      [FIT_DEFAULTS.head.pretrainDim, FIT_DEFAULTS.head.targetDim],
      [256, 512],
    ],
    coresets: [0.01, 0.05, 0.1],
    ks: [1],
    sigmas: [4, 8, 16],
    patchsize: FIT_DEFAULTS.head.patchsize,
  };
}

/** Where the search starts: the first value of every axis (what `patchline fit` does by default). */
export function baseRecipe(space: SearchSpace): EmbeddingRecipe {
  const [pretrainDim, targetDim] = space.dims[0]!;
  return { layers: space.layerSets[0]!, resize: space.resizes[0]!, head: { patchsize: space.patchsize, pretrainDim, targetDim } };
}

/** `recipe` with one axis set to each of the space's other values on it. */
export function alongAxis(space: SearchSpace, recipe: EmbeddingRecipe, axis: EmbeddingAxis): EmbeddingRecipe[] {
  const others = {
    resize: () => space.resizes.map((resize) => ({ ...recipe, resize })),
    layers: () => space.layerSets.map((layers) => ({ ...recipe, layers })),
    dims: () => space.dims.map(([pretrainDim, targetDim]) => ({ ...recipe, head: { ...recipe.head, pretrainDim, targetDim } })),
  }[axis]();
  return others.filter((r) => embeddingId(r) !== embeddingId(recipe));
}

export function variants(space: SearchSpace): ScoringVariant[] {
  return space.coresets.flatMap((coreset) => space.ks.flatMap((k) => space.sigmas.map((sigma) => ({ coreset, k, sigma }))));
}

export function embeddingId(r: EmbeddingRecipe): string {
  return `${r.layers.join('+')} @${resizeLabel(r.resize)} d${r.head.pretrainDim}/${r.head.targetDim} p${r.head.patchsize}`;
}

export function variantId(r: EmbeddingRecipe, v: ScoringVariant): string {
  return `${embeddingId(r)} c${v.coreset} k${v.k} s${v.sigma}`;
}

/** Pixels the backbone sees per image: what an embedding recipe's cost grows with. */
export function inputPixels(r: EmbeddingRecipe): number {
  const { width, height } = outputSize(r.resize);
  return width * height;
}

function uniqueBy<T>(items: T[], key: (t: T) => string): T[] {
  const seen = new Set<string>();
  return items.filter((t) => !seen.has(key(t)) && seen.add(key(t)));
}
