// The model the pipeline scores with, swappable between batches (bank hot reload): a batch uses
// the model that was active when it started, and its results name that model's bank. A replaced
// model is disposed when its last batch is done, not before and not on a timer.
import type { PatchCore } from '../patchcore/patchcore.js';

export interface ActiveModel {
  model: PatchCore;
  /** `<bank file>@<checksum prefix>`, carried by every result it scores. */
  bankId: string;
  /** Frees the model and what it alone holds (its inference runtime). */
  dispose(): Promise<void>;
}

export interface ModelLease {
  active: ActiveModel;
  release(): void;
}

export class ModelSlot {
  private readonly users = new Map<ActiveModel, number>();
  private readonly retired = new Set<ActiveModel>();

  constructor(
    private active: ActiveModel,
    private readonly onDisposeError: (e: Error) => void = () => {},
  ) {}

  get current(): ActiveModel {
    return this.active;
  }

  /** The model for one batch; call `release()` once the batch is done. */
  acquire(): ModelLease {
    const active = this.active;
    this.users.set(active, (this.users.get(active) ?? 0) + 1);
    let released = false;
    return {
      active,
      release: () => {
        if (released) return;
        released = true;
        const left = this.users.get(active)! - 1;
        if (left > 0) {
          this.users.set(active, left);
          return;
        }
        this.users.delete(active);
        if (this.retired.delete(active)) this.dispose(active);
      },
    };
  }

  /** Makes `next` active for the following batches; the previous one goes after its last batch. */
  swap(next: ActiveModel): void {
    const previous = this.active;
    this.active = next;
    if (this.users.has(previous)) this.retired.add(previous);
    else this.dispose(previous);
  }

  /** Models not yet disposed (the active one and replaced ones still in use). */
  get live(): number {
    return 1 + this.retired.size;
  }

  /** Disposes every model, in use or not (the service is stopping). */
  async close(): Promise<void> {
    const all = [this.active, ...this.retired];
    this.retired.clear();
    this.users.clear();
    await Promise.all(all.map((m) => m.dispose().catch((e: Error) => this.onDisposeError(e))));
  }

  private dispose(m: ActiveModel): void {
    m.dispose().catch((e: Error) => this.onDisposeError(e));
  }
}
