// Bank hot reload: a new bank written over the configured file, or named by an MQTT command, is
// loaded beside the running one and swapped in between two batches, so no frame is dropped and
// each result names the bank that scored it. A bad bank is refused and the running one stays.
import { basename } from 'node:path';
import { unwatchFile, watchFile } from 'node:fs';
import type { PipelineMetrics } from '../metrics/metrics.js';
import { readBank, type Bank, type BankManifest } from '../patchcore/bank-file.js';
import { bankBackbone, type PatchCore } from '../patchcore/patchcore.js';
import type { ResolvedBackbone } from '../model/backbone.js';
import type { ModelSlot } from '../pipeline/active-model.js';

/** `<bank file>@<checksum prefix>`: what results, status and metrics call a bank. */
export function bankIdOf(path: string, sha: string): string {
  return `${basename(path)}@${sha.slice(0, 12)}`;
}

/** Batches that started with the old model finish first: it is released this much later. */
const RELEASE_DELAY_MS = 5000;

export interface BankReloaderDeps {
  slot: ModelSlot;
  /** Backbone override and models directory from the config. */
  backbone: { backbone?: string; modelDir?: string };
  load(bank: Bank, backbone: ResolvedBackbone): Promise<PatchCore>;
  /** After a swap: model info metric, retained status. */
  onSwapped(manifest: BankManifest, bankId: string): void;
  metrics: PipelineMetrics;
  log: (s: string) => void;
}

export class BankReloader {
  private chain: Promise<void> = Promise.resolve();
  private readonly releaseTimers = new Set<NodeJS.Timeout>();
  private readonly watched: string[] = [];
  private stopped = false;

  constructor(private readonly deps: BankReloaderDeps) {}

  /** Reloads when `path` is replaced (patchline fit writes atomically). */
  watch(path: string): void {
    watchFile(path, { interval: 1000 }, (now, before) => {
      if (now.mtimeMs !== before.mtimeMs && now.size > 0) void this.reload(path, 'file changed');
    });
    this.watched.push(path);
  }

  /** Queues a reload; reloads run one at a time, in order. */
  reload(path: string, why: string): Promise<void> {
    this.chain = this.chain.then(() => this.reloadNow(path, why));
    return this.chain;
  }

  private async reloadNow(path: string, why: string): Promise<void> {
    if (this.stopped) return;
    const { slot, metrics, log } = this.deps;
    try {
      const bank = await readBank(path);
      const m = bank.manifest;
      const old = slot.current;
      const oldInput = old.model.manifest.input;
      if (m.input.width !== oldInput.width || m.input.height !== oldInput.height) {
        throw new Error(
          `its input is ${m.input.width}x${m.input.height}, the running pipeline's is ${oldInput.width}x${oldInput.height}; restart the service to change the input size`,
        );
      }
      const backbone = bankBackbone(m, this.deps.backbone);
      const bankId = bankIdOf(path, m.dataSha256);
      const model = await this.deps.load(bank, backbone);
      slot.swap({ model, bankId });
      this.deps.onSwapped(m, bankId);
      metrics.bankReloads.inc({ result: 'ok' });
      log(`bank reloaded (${why}): ${bankId}, threshold ${m.calibration.threshold.toFixed(3)}`);
      const timer = setTimeout(() => {
        this.releaseTimers.delete(timer);
        old.model.release().catch((e: Error) => log(`releasing the previous bank: ${e.message}`));
      }, RELEASE_DELAY_MS);
      this.releaseTimers.add(timer);
    } catch (e) {
      metrics.bankReloads.inc({ result: 'failed' });
      log(`bank reload (${why}) refused, keeping ${slot.current.bankId}: ${(e as Error).message}`);
    }
  }

  /** No more reloads; pending releases are dropped (the runtime closes with the service). */
  stop(): void {
    this.stopped = true;
    for (const path of this.watched.splice(0)) unwatchFile(path);
    for (const t of this.releaseTimers) clearTimeout(t);
    this.releaseTimers.clear();
  }
}
