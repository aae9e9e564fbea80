// The model the pipeline scores with, swappable between batches (bank hot reload): a batch uses
// the model that was active when it started, and its results name that model's bank.
import type { PatchCore } from '../patchcore/patchcore.js';

export interface ActiveModel {
  model: PatchCore;
  /** `<bank file>@<checksum prefix>`, carried by every result it scores. */
  bankId: string;
}

export class ModelSlot {
  constructor(private active: ActiveModel) {}

  get current(): ActiveModel {
    return this.active;
  }

  /** Makes `next` active for the following batches; returns the previous one. */
  swap(next: ActiveModel): ActiveModel {
    const previous = this.active;
    this.active = next;
    return previous;
  }
}
