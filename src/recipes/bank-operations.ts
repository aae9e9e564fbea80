// What people do to a recipe's banks, the same from the command line and from the operator
// page: teach a new version, add good images to the active one, set its threshold, import a
// fitted bank, activate, roll back, discard. Each writes at most one new version (atomically,
// never activating it unless asked) and appends to the recipe's audit log.
import type { ResolvedBackbone } from '../model/backbone.js';
import type { InferenceRuntime } from '../model/inference-runtime.js';
import { readBank, type BankManifest, type Calibration } from '../patchcore/bank-file.js';
import type { CoresetMethod } from '../patchcore/coreset.js';
import { extendBank, type ExtendResult } from '../patchcore/extend-bank.js';
import { FIT_DEFAULTS, fitBank, summary, type FitProgress, type FitResult } from '../patchcore/fit.js';
import { bankBackbone } from '../patchcore/patchcore.js';
import { appendAudit, type AuditEntry } from './audit-log.js';
import type { BankStore } from './bank-store.js';

export interface Actor {
  /** Token name (page), `cli:<user>`, `mqtt`, ... */
  actor: string;
}

/** The backbone a bank names, from the models folder (`modelDir`) or an explicit one. */
export type BackboneFor = (manifest: BankManifest) => ResolvedBackbone;

export function backboneFrom(override: { backbone?: string; modelDir?: string }): BackboneFor {
  return (m) => bankBackbone(m, override);
}

function audit(store: BankStore, e: Omit<AuditEntry, 'at' | 'recipe'>): AuditEntry {
  return appendAudit(store.auditFile, { recipe: store.name, ...e });
}

export interface NewVersion {
  version: number;
  id: string;
  file: string;
  manifest: BankManifest | FitResult['manifest'];
}

function maybeActivate(store: BankStore, v: NewVersion, activate: boolean | undefined, who: Actor): void {
  if (activate) activateVersion(store, v.version, who);
}

/** `source`: where the file came from, for the version's origin and the audit log (default: `file`). */
export async function importBank(
  store: BankStore,
  file: string,
  who: Actor & { activate?: boolean; source?: string },
): Promise<NewVersion> {
  const bank = await readBank(file);
  const { format: _f, version: _v, dataSha256: _d, ...manifest } = bank.manifest;
  const source = who.source ?? file;
  const added = store.add({ ...manifest, origin: { action: 'import', note: source } }, bank.rows);
  const v = { ...added, id: store.idOf(added.version), manifest: bank.manifest };
  audit(store, { actor: who.actor, action: 'import', after: v.id, images: manifest.training.bankImages, detail: source });
  maybeActivate(store, v, who.activate, who);
  return v;
}

export function activateVersion(store: BankStore, version: number, who: Actor): { before?: string; after: string } {
  const r = store.activate(version);
  const change = { ...(r.before !== undefined ? { before: store.idOf(r.before) } : {}), after: store.idOf(r.after) };
  audit(store, { actor: who.actor, action: 'activate', ...change });
  return change;
}

export function rollbackVersion(store: BankStore, who: Actor): { before: string; after: string } {
  const r = store.rollback();
  const change = { before: store.idOf(r.before), after: store.idOf(r.after) };
  audit(store, { actor: who.actor, action: 'rollback', ...change });
  return change;
}

export function discardVersion(store: BankStore, version: number, who: Actor): void {
  store.remove(version);
  audit(store, { actor: who.actor, action: 'discard', before: store.idOf(version) });
}

/** The active version (or `from`) with its number and id. */
async function baseVersion(store: BankStore, from?: number) {
  const version = from ?? store.activeVersion();
  if (version === undefined) throw new Error(`bank store ${store.dir} has no active version to start from; give one or activate one`);
  const bank = await readBank(store.path(version));
  return { version, id: store.idOf(version), bank };
}

export interface AddOptions {
  files: string[];
  folder: string;
  budget?: number;
  batchSize: number;
  from?: number;
  activate?: boolean;
  workDir?: string;
}

/** Good images into the bank without a refit (extend-bank.ts): a new version. */
export async function addImages(
  runtime: InferenceRuntime,
  store: BankStore,
  backboneFor: BackboneFor,
  opts: AddOptions,
  who: Actor,
  progress: FitProgress,
): Promise<NewVersion & { result: ExtendResult }> {
  const base = await baseVersion(store, opts.from);
  const result = await extendBank(
    runtime,
    base.bank,
    backboneFor(base.bank.manifest),
    opts.files,
    { budget: opts.budget, batchSize: opts.batchSize, folder: opts.folder, workDir: opts.workDir, parent: base.id },
    progress,
  );
  const added = store.add(result.manifest, result.rows);
  const v = { ...added, id: store.idOf(added.version), manifest: result.manifest, result };
  audit(store, {
    actor: who.actor,
    action: 'add',
    before: base.id,
    after: v.id,
    images: opts.files.length,
    detail: `${result.added} rows from ${result.patches} patches; threshold ${result.threshold.before.toFixed(3)} -> ${result.threshold.after.toFixed(3)}, ${result.threshold.how}`,
  });
  maybeActivate(store, v, opts.activate, who);
  return v;
}

/** The same rows with another threshold (chosen from reviews, or typed): a new version. */
export async function setThreshold(
  store: BankStore,
  threshold: number,
  how: { reviewed?: number[]; note: string },
  opts: { from?: number; activate?: boolean },
  who: Actor,
): Promise<NewVersion> {
  if (!(Number.isFinite(threshold) && threshold > 0)) throw new RangeError(`threshold must be a positive number, got ${threshold}`);
  const base = await baseVersion(store, opts.from);
  const { format: _f, version: _v, dataSha256: _d, ...m } = base.bank.manifest;
  const calibration: Calibration = { threshold, method: 'reviews', scores: summary(how.reviewed ?? []) };
  const manifest = {
    ...m,
    createdAt: new Date().toISOString(),
    calibration,
    origin: { action: 'threshold' as const, parent: base.id, note: how.note },
  };
  const added = store.add(manifest, base.bank.rows);
  const v = { ...added, id: store.idOf(added.version), manifest };
  audit(store, {
    actor: who.actor,
    action: 'threshold',
    before: base.id,
    after: v.id,
    detail: `threshold ${base.bank.manifest.calibration.threshold.toFixed(3)} -> ${threshold.toFixed(3)} (${how.note})`,
  });
  maybeActivate(store, v, opts.activate, who);
  return v;
}

export interface TeachOptions {
  files: string[];
  folder: string;
  /** The bank whose settings the new one is fitted with (backbone, layers, head, input, coreset, k). */
  like: BankManifest;
  batchSize: number;
  holdout?: number;
  activate?: boolean;
  workDir?: string;
}

/** A fresh fit on captured good images, with the settings of `like`: a new version. */
export async function teachVersion(
  runtime: InferenceRuntime,
  store: BankStore,
  backboneFor: BackboneFor,
  opts: TeachOptions,
  who: Actor,
  progress: FitProgress,
): Promise<NewVersion & { result: FitResult }> {
  const m = opts.like;
  const backbone = backboneFor(m);
  const result = await fitBank(
    runtime,
    opts.files,
    {
      backbone,
      backboneRef: m.backbone.ref,
      layers: m.backbone.layers.map((l) => l.name),
      head: m.head,
      resize: m.input.resize,
      coreset: { method: m.coreset.method as CoresetMethod, percentage: m.coreset.percentage, seed: m.coreset.seed },
      k: m.scorer.k,
      mapSigma: m.scorer.mapSigma,
      holdout: opts.holdout ?? FIT_DEFAULTS.holdout,
      calibration: {
        quantile: m.calibration.quantile ?? FIT_DEFAULTS.calibration.quantile,
        margin: m.calibration.margin ?? FIT_DEFAULTS.calibration.margin,
      },
      batchSize: opts.batchSize,
      folder: opts.folder,
      workDir: opts.workDir,
    },
    progress,
  );
  const before = store.activeVersion();
  result.manifest.origin = {
    action: 'teach',
    ...(before !== undefined ? { parent: store.idOf(before) } : {}),
    note: `${opts.files.length} images from ${opts.folder}`,
  };
  const added = store.add(result.manifest, result.rows);
  const v = { ...added, id: store.idOf(added.version), manifest: result.manifest, result };
  const c = result.manifest.calibration;
  audit(store, {
    actor: who.actor,
    action: 'teach',
    ...(before !== undefined ? { before: store.idOf(before) } : {}),
    after: v.id,
    images: opts.files.length,
    detail: `${result.manifest.coreset.rows} rows; threshold ${Number.isFinite(c.threshold) ? c.threshold.toFixed(3) : 'none'} (${c.method}, ${c.scores.count} held-out images)`,
  });
  maybeActivate(store, v, opts.activate, who);
  return v;
}
