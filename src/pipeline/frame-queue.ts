// The bounded queue between the source and inference, and the batcher: a batch leaves when
// inference has room (fewer than `maxInFlight` batches out) and either `maxBatch` frames wait, a
// frame that ends a batch (`endsBatch`: the last tile of a web row) waits, or the oldest has
// waited `maxWaitMs`.
// When full, 'drop-oldest' drops (and reports) the oldest frame; 'block' makes the source wait
// (its `flow.room()` resolves only when there is room).
import { asyncScheduler, Observable, type SchedulerLike, type Subscription } from 'rxjs';
import type { Flow } from '../core/flow.js';

export interface QueueOptions<T> {
  capacity: number;
  policy: 'drop-oldest' | 'block';
  /** Frames per batch, at most (Infinity: only `endsBatch` and `maxWaitMs` cut batches). */
  maxBatch: number;
  maxWaitMs: number;
  /** A batch ends after such a frame (and holds no frame after it). */
  endsBatch?: (item: T) => boolean;
  /** Batches handed downstream and not yet ready() (2: the next is prepared while one runs). */
  maxInFlight?: number;
}

export interface QueueHooks<T> {
  onDrop?(item: T): void;
  onDepth?(depth: number): void;
}

export class FrameQueue<T> {
  private readonly items: { item: T; at: number }[] = [];
  private waiters: (() => void)[] = [];
  private inFlight = 0;
  private kick: (() => void) | undefined;

  constructor(
    private readonly opts: QueueOptions<T>,
    private readonly hooks: QueueHooks<T> = {},
    private readonly scheduler: SchedulerLike = asyncScheduler,
  ) {}

  readonly flow: Flow = {
    room: () =>
      this.opts.policy === 'drop-oldest' || this.items.length < this.opts.capacity
        ? Promise.resolve()
        : new Promise<void>((r) => this.waiters.push(r)),
  };

  get depth(): number {
    return this.items.length;
  }

  /** Downstream finished a batch and takes the next. */
  ready(): void {
    this.inFlight = Math.max(0, this.inFlight - 1);
    this.kick?.();
  }

  private released(): void {
    const waiting = this.waiters;
    this.waiters = [];
    for (const w of waiting) w();
  }

  /** Batches of `source`'s items; call ready() after handling each batch. */
  batches(source: Observable<T>): Observable<T[]> {
    return new Observable<T[]>((subscriber) => {
      let completed = false;
      let timer: Subscription | undefined;
      const tryEmit = () => {
        timer?.unsubscribe();
        timer = undefined;
        if (this.items.length === 0) {
          if (completed && this.inFlight === 0) subscriber.complete();
          return;
        }
        if (this.inFlight >= (this.opts.maxInFlight ?? 1)) return;
        const age = this.scheduler.now() - this.items[0]!.at;
        const { endsBatch } = this.opts;
        const end = endsBatch ? this.items.findIndex((e) => endsBatch(e.item)) : -1;
        const size = Math.min(this.opts.maxBatch, end >= 0 ? end + 1 : Infinity);
        if (this.items.length >= size || age >= this.opts.maxWaitMs || completed) {
          this.inFlight++;
          const batch = this.items.splice(0, Math.min(size, this.items.length)).map((e) => e.item);
          this.hooks.onDepth?.(this.items.length);
          this.released();
          subscriber.next(batch);
          tryEmit();
        } else {
          timer = this.scheduler.schedule(tryEmit, this.opts.maxWaitMs - age);
        }
      };
      this.kick = tryEmit;
      const sub = source.subscribe({
        next: (item) => {
          if (this.opts.policy === 'drop-oldest' && this.items.length >= this.opts.capacity) {
            const dropped = this.items.shift()!;
            this.hooks.onDrop?.(dropped.item);
          }
          this.items.push({ item, at: this.scheduler.now() });
          this.hooks.onDepth?.(this.items.length);
          tryEmit();
        },
        error: (e) => subscriber.error(e),
        complete: () => {
          completed = true;
          tryEmit();
        },
      });
      return () => {
        timer?.unsubscribe();
        sub.unsubscribe();
        this.kick = undefined;
        this.released();
      };
    });
  }
}
