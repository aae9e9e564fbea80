// Bank hot reload: a new bank written over the configured file, or named by an MQTT command, is
// loaded beside the running one (in its own inference worker, so inference never waits for it)
// and swapped in between two batches: no frame is dropped, each result names the bank that
// scored it. A bank is checked completely before the swap; a bad one is refused and the running
// one stays. Requests that arrive while one loads are coalesced: only the newest is loaded.
import { unwatchFile, watchFile } from 'node:fs';
import { realpath } from 'node:fs/promises';
import { basename, dirname, isAbsolute, relative, resolve } from 'node:path';
import { clip } from '../core/text.js';
import type { PipelineMetrics } from '../metrics/metrics.js';
import { readBank, requireThreshold, type BankManifest, type StoredBank } from '../patchcore/bank-file.js';
import type { ActiveModel, ModelSlot } from '../pipeline/active-model.js';

/** `<bank file>@<checksum prefix>`: what results, status and metrics call a bank. */
export function bankIdOf(path: string, checksum: string): string {
  return `${basename(path)}@${checksum.slice(0, 12)}`;
}

/** What a reload request became: the bank swapped in, or why not. */
export type ReloadOutcome = { ok: true; bankId: string } | { ok: false; error: string };

/** A bank to load: its file, and for a recipe's version its id (`recipe@vN`) and recipe. */
export interface BankRequest {
  path: string;
  why: string;
  bankId?: string;
  recipe?: string;
}

export interface BankReloaderDeps {
  slot: ModelSlot;
  /** The configured bank file: commands may name it or files in its folder. */
  configuredBank: string;
  maxBankBytes: number;
  /** Loads and warms a model for a checked bank (backbone resolved and verified there). */
  createModel(bank: StoredBank, bankId: string): Promise<ActiveModel>;
  /** After a swap: model info metric, retained status. */
  onSwapped(manifest: BankManifest, request: BankRequest & { bankId: string }): void;
  metrics: PipelineMetrics;
  log: (s: string) => void;
}

interface Pending extends BankRequest {
  settle(outcome: ReloadOutcome): void;
}

export class BankReloader {
  private pending?: Pending;
  private draining?: Promise<void>;
  private readonly watched: string[] = [];
  private stopped = false;

  constructor(private readonly deps: BankReloaderDeps) {}

  /** Reloads when `path` is replaced (patchline fit writes atomically). */
  watch(path: string): void {
    watchFile(path, { interval: 1000 }, (now, before) => {
      if (now.mtimeMs !== before.mtimeMs && now.size > 0) void this.reload({ path, why: 'file changed' });
    });
    this.watched.push(path);
  }

  /** A bank named by a command: the configured file, or a file inside its folder. */
  async reloadCommanded(requested: string | undefined, why: string): Promise<ReloadOutcome> {
    let path: string;
    try {
      path = await this.resolveCommanded(requested);
    } catch (e) {
      this.deps.metrics.bankReloads.inc({ result: 'failed' });
      this.deps.log(`bank reload (${why}) refused, keeping ${this.deps.slot.current.bankId}: ${(e as Error).message}`);
      return { ok: false, error: (e as Error).message };
    }
    return this.reload({ path, why });
  }

  private async resolveCommanded(requested: string | undefined): Promise<string> {
    const configured = resolve(this.deps.configuredBank);
    if (requested === undefined) return configured;
    const folder = await realpath(dirname(configured));
    let real: string;
    try {
      real = await realpath(resolve(folder, requested));
    } catch (e) {
      throw new Error(`${clip(requested)}: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`);
    }
    const inside = relative(folder, real);
    if (real !== (await realpath(configured).catch(() => configured)) && (inside === '' || inside.startsWith('..') || isAbsolute(inside))) {
      throw new Error(`${clip(requested)} is outside the bank folder ${folder}; a command can only load banks from that folder`);
    }
    return real;
  }

  /**
   * Queues a reload; while one loads, a newer request replaces any older waiting one (which
   * resolves as superseded). Resolves once this request's bank is swapped in or refused.
   */
  reload(request: BankRequest): Promise<ReloadOutcome> {
    if (this.stopped) return Promise.resolve({ ok: false, error: 'the service is stopping' });
    if (this.pending) {
      this.deps.metrics.bankReloads.inc({ result: 'coalesced' });
      this.deps.log(`bank reload (${this.pending.why}) of ${clip(this.pending.path)} superseded by a newer request`);
      this.pending.settle({ ok: false, error: `superseded by a newer request (${request.why})` });
    }
    const outcome = new Promise<ReloadOutcome>((settle) => (this.pending = { ...request, settle }));
    this.draining ??= this.drain();
    return outcome;
  }

  private async drain(): Promise<void> {
    while (this.pending && !this.stopped) {
      const request = this.pending;
      this.pending = undefined;
      request.settle(await this.reloadNow(request));
    }
    this.pending?.settle({ ok: false, error: 'the service is stopping' });
    this.pending = undefined;
    this.draining = undefined;
  }

  private async reloadNow(request: BankRequest): Promise<ReloadOutcome> {
    const { path, why } = request;
    const { slot, metrics, log } = this.deps;
    let next: ActiveModel;
    let manifest: BankManifest;
    try {
      const bank = await readBank(path, { maxBytes: this.deps.maxBankBytes });
      manifest = bank.manifest;
      requireThreshold(manifest, path);
      const oldInput = slot.current.model.manifest.input;
      if (manifest.input.width !== oldInput.width || manifest.input.height !== oldInput.height) {
        throw new Error(
          `${path}: its input is ${manifest.input.width}x${manifest.input.height}, the running pipeline's is ${oldInput.width}x${oldInput.height}; restart the service to change the input size`,
        );
      }
      next = await this.deps.createModel(bank, request.bankId ?? bankIdOf(path, bank.checksum));
    } catch (e) {
      metrics.bankReloads.inc({ result: 'failed' });
      log(`bank reload (${why}) refused, keeping ${slot.current.bankId}: ${(e as Error).message}`);
      return { ok: false, error: (e as Error).message };
    }
    if (this.stopped) {
      await next.dispose();
      return { ok: false, error: 'the service is stopping' };
    }
    slot.swap(next);
    metrics.bankReloads.inc({ result: 'ok' });
    log(`bank reloaded (${why}): ${next.bankId}, threshold ${manifest.calibration.threshold.toFixed(3)}`);
    this.deps.onSwapped(manifest, { ...request, bankId: next.bankId });
    return { ok: true, bankId: next.bankId };
  }

  /** No more reloads (one loading now is disposed when it finishes). */
  stop(): Promise<void> {
    this.stopped = true;
    this.pending = undefined;
    for (const path of this.watched.splice(0)) unwatchFile(path);
    return this.draining ?? Promise.resolve();
  }
}
