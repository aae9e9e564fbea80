// Two inference workers used in turn: a new bank loads in the one the running model does not
// use, so inference never waits for a load, and the workers (their threads and the memory their
// allocators keep) are reused instead of one more worker per reload. A new worker per reload
// grew the process by about 11 MB a reload (glibc keeps freed memory in per-thread arenas);
// with two in turn, and the deployed MALLOC_ARENA_MAX=2, the soak's memory stays flat
// (docs/RELIABILITY.md).
import type { InferenceRuntime } from '../model/inference-runtime.js';

interface Slot {
  runtime: InferenceRuntime;
  /** Resolves when the model loaded in it has been released (it is free for the next load). */
  freed: Promise<void>;
}

export class RuntimePair {
  private readonly slots: Slot[] = [];
  private turn = 0;

  constructor(private readonly make: () => InferenceRuntime) {}

  /**
   * The worker for the next model, once the model it held before is released; `hold` marks it
   * in use until the returned release function is called.
   */
  async next(): Promise<{ runtime: InferenceRuntime; release: () => void }> {
    const i = this.turn;
    this.turn = (this.turn + 1) % 2;
    const slot = (this.slots[i] ??= { runtime: this.make(), freed: Promise.resolve() });
    await slot.freed;
    let release: () => void = () => {};
    slot.freed = new Promise<void>((r) => (release = r));
    return { runtime: slot.runtime, release };
  }

  async close(): Promise<void> {
    await Promise.all(this.slots.map((s) => s.runtime.close()));
  }
}
