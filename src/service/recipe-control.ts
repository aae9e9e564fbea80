// The running service's recipes: which product's bank scores now, switching products, and the
// bank changes people make from the page, MQTT or the command line. Every switch and version
// change goes through the bank reloader (loaded beside the running bank, swapped between two
// batches: no frame lost). A version activated elsewhere (`patchline bank activate`) is
// noticed within a second. Teach and add run as child processes (bank-job.ts).
import { existsSync } from 'node:fs';
import { copyFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { Config } from '../config/schema.js';
import { readBankManifest } from '../patchcore/bank-file.js';
import { appendAudit, readAudit } from '../recipes/audit-log.js';
import { activateVersion, discardVersion, rollbackVersion, setThreshold } from '../recipes/bank-operations.js';
import { BankStore } from '../recipes/bank-store.js';
import { teachFolder } from '../recipes/teach-capture.js';
import type { AuditRecord, JobState, RecipeInfo, RecipesView } from '../ui/protocol.js';
import type { BankJobs } from './bank-job.js';
import type { BankReloader, ReloadOutcome } from './bank-reloader.js';

export class RecipeError extends Error {}

export interface RecipeControlDeps {
  config: Config;
  reloader: () => BankReloader | undefined;
  jobs: BankJobs;
  /** The bank scoring now. */
  runningBank: () => { id: string; file: string };
  log: (s: string) => void;
  /** Something changed that the page lists (versions, audit). */
  onChanged: () => void;
}

export class RecipeControl {
  private readonly stores = new Map<string, BankStore>();
  private current?: string;
  /** The version of the current recipe last asked for (a pointer change beyond it is reloaded). */
  private wanted?: number;
  private timer?: NodeJS.Timeout;

  constructor(private readonly deps: RecipeControlDeps) {
    this.current = deps.config.model.recipe;
  }

  get recipe(): string | undefined {
    return this.current;
  }

  /** The store of a configured recipe (created on first use: a new product starts empty). */
  store(name: string): BankStore {
    const recipe = this.deps.config.recipes[name];
    if (!recipe)
      throw new RecipeError(`unknown recipe '${name}' (recipes: ${Object.keys(this.deps.config.recipes).join(', ') || 'none configured'})`);
    let store = this.stores.get(name);
    if (!store) {
      store = BankStore.open(recipe.store, { name, keep: recipe.keep, create: true });
      this.stores.set(name, store);
    }
    return store;
  }

  /** The bank the service starts with: the configured recipe's active version. */
  initialBank(): { path: string; bankId: string } {
    const store = this.store(this.current!);
    const path = store.activePath();
    this.wanted = store.activeVersion();
    return { path, bankId: store.idOf(this.wanted!) };
  }

  /** Follows `patchline bank activate/rollback` run beside the service. */
  watch(): void {
    this.timer = setInterval(() => {
      if (!this.current) return;
      let v: number | undefined;
      try {
        v = this.store(this.current).activeVersion();
      } catch (e) {
        this.deps.log(`recipe ${this.current}: ${(e as Error).message}`);
        return;
      }
      if (v === undefined || v === this.wanted) return;
      void this.load(this.current, v, 'active version changed');
    }, 1000);
  }

  private async load(recipe: string, version: number, why: string): Promise<ReloadOutcome> {
    const store = this.store(recipe);
    const reloader = this.deps.reloader();
    if (!reloader) return { ok: false, error: 'the service is not running' };
    if (recipe === this.current) this.wanted = version;
    const outcome = await reloader.reload({ path: store.path(version), why, bankId: store.idOf(version), recipe });
    if (outcome.ok) {
      this.current = recipe;
      this.wanted = version;
    }
    this.deps.onChanged();
    return outcome;
  }

  /** Switches products: the recipe's active version, swapped in between two batches. */
  async select(recipe: string, actor: string): Promise<string> {
    const store = this.store(recipe);
    const version = store.activeVersion();
    if (version === undefined) throw new RecipeError(`recipe '${recipe}' has no active bank version yet; teach it or import a bank first`);
    const before = this.deps.runningBank().id;
    const outcome = await this.load(recipe, version, `select-recipe ${recipe}`);
    if (!outcome.ok) throw new RecipeError(`recipe '${recipe}' not selected, ${before} keeps running: ${outcome.error}`);
    appendAudit(store.auditFile, { recipe, actor, action: 'select-recipe', before, after: outcome.bankId });
    this.deps.onChanged();
    return outcome.bankId;
  }

  /** Activates a version: loaded first when it is the running recipe's, so a bad bank is never marked active. */
  async activate(recipe: string, version: number, actor: string): Promise<void> {
    const store = this.store(recipe);
    if (!existsSync(store.path(version))) throw new RecipeError(`recipe '${recipe}' has no version v${version}`);
    if (recipe === this.current) {
      const outcome = await this.load(recipe, version, `activate ${store.idOf(version)}`);
      if (!outcome.ok) throw new RecipeError(`${store.idOf(version)} not activated: ${outcome.error}`);
    }
    activateVersion(store, version, { actor });
    this.deps.onChanged();
  }

  async rollback(recipe: string, actor: string): Promise<void> {
    const store = this.store(recipe);
    const change = rollbackVersion(store, { actor });
    if (recipe === this.current) {
      const version = store.activeVersion()!;
      const outcome = await this.load(recipe, version, `rollback to ${change.after}`);
      if (!outcome.ok) throw new RecipeError(`rolled back to ${change.after} in the store, but it did not load: ${outcome.error}`);
    }
    this.deps.onChanged();
  }

  discard(recipe: string, version: number, actor: string): void {
    discardVersion(this.store(recipe), version, { actor });
    this.deps.onChanged();
  }

  /** Applies a threshold chosen on the page as a new version of the running recipe, activated. */
  async threshold(recipe: string, value: number, note: string, reviewed: number[], actor: string): Promise<string> {
    const store = this.store(recipe);
    const v = await setThreshold(store, value, { reviewed, note }, {}, { actor });
    await this.activate(recipe, v.version, actor);
    return v.id;
  }

  /** Captures `frames` frames from the line and fits the recipe's next version on them. */
  teach(recipe: string, frames: number, actor: string): JobState {
    const store = this.store(recipe);
    const active = store.activeVersion();
    // A new product is fitted with the running bank's settings.
    const like = active !== undefined ? store.path(active) : this.deps.runningBank().file;
    const dir = teachFolder(store);
    return this.deps.jobs.teach(recipe, dir, frames, {
      args: ['teach', '--store', store.dir, '--name', recipe, '--images', dir, '--like', like, '--actor', actor, ...this.modelArgs()],
      describe: (out) => `${String(out.rows)} rows from ${String(out.images)} frames`,
    });
  }

  /** Of these gallery ids, those whose images the recipe's active version has not had added. */
  async notAdded(recipe: string, ids: string[]): Promise<string[]> {
    const store = this.store(recipe);
    const active = store.activeVersion();
    if (active === undefined || ids.length === 0) return [];
    const { manifest } = await readBankManifest(store.path(active));
    const added = new Set((manifest.training.additions ?? []).flatMap((a) => a.files ?? []).map((f) => f.replace(/\.png$/, '')));
    return ids.filter((id) => !added.has(id));
  }

  /** Copies the images into the store (they stay: the bank records where they came from) and adds them to the active version. */
  async addImages(recipe: string, images: { id: string; path: string }[], actor: string): Promise<JobState> {
    if (images.length === 0) throw new RecipeError(`no reviewed false alarms of recipe '${recipe}' left to add`);
    const store = this.store(recipe);
    if (store.activeVersion() === undefined) throw new RecipeError(`recipe '${recipe}' has no active version to add to`);
    const dir = teachFolder(store, 'added');
    for (const i of images) await copyFile(i.path, join(dir, `${i.id}.png`));
    return this.deps.jobs.add(recipe, {
      args: ['bank', 'add', '--store', store.dir, '--name', recipe, '--images', dir, '--actor', actor, ...this.modelArgs()],
      describe: (out) =>
        `${String(out.added)} rows from ${String(out.images)} false alarms; threshold ${Number(out.thresholdBefore).toFixed(3)} -> ${Number((out.calibration as { threshold: number }).threshold).toFixed(3)} (${String(out.thresholdHow)})`,
    });
  }

  private modelArgs(): string[] {
    const m = this.deps.config.model;
    return [...(m.modelDir ? ['--model-dir', m.modelDir] : []), ...(m.backbone ? ['--backbone', m.backbone] : [])];
  }

  async view(falseAlarmsToAdd: number): Promise<RecipesView> {
    const recipes: RecipeInfo[] = [];
    for (const [name, r] of Object.entries(this.deps.config.recipes)) {
      try {
        const store = this.store(name);
        const versions = await store.versions();
        const active = versions.find((v) => v.active);
        recipes.push({
          name,
          store: store.dir,
          ...(active ? { active: active.id } : {}),
          versions: versions.map(({ file: _f, bytes: _b, ...v }) => v),
        });
      } catch (e) {
        recipes.push({ name, store: r.store, versions: [], error: (e as Error).message });
      }
    }
    return {
      enabled: recipes.length > 0,
      ...(this.current ? { current: this.current } : {}),
      running: this.deps.runningBank().id,
      recipes,
      ...(this.deps.jobs.state ? { job: this.deps.jobs.state } : {}),
      falseAlarmsToAdd,
    };
  }

  /** The newest `limit` audit entries of every recipe, oldest first. */
  audit(limit = 100): AuditRecord[] {
    const all: AuditRecord[] = [];
    for (const name of Object.keys(this.deps.config.recipes)) {
      try {
        all.push(...readAudit(this.store(name).auditFile, limit));
      } catch {
        // a store that cannot be opened is reported by view()
      }
    }
    return all.sort((a, b) => a.at.localeCompare(b.at)).slice(-limit);
  }

  close(): void {
    clearInterval(this.timer);
    this.deps.jobs.close();
  }
}
