// Marble tests of the queue/batcher: batch size, batch timeout, drop-oldest, and waiting for
// the consumer.
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { concatMap, delay, of, tap, type OperatorFunction } from 'rxjs';
import { TestScheduler } from 'rxjs/testing';
import { FrameQueue } from '../src/pipeline/frame-queue.js';

function scheduler() {
  return new TestScheduler((a, b) => assert.deepEqual(a, b));
}

/** A consumer that takes `ms` per batch, then tells the queue it is ready for the next. */
function busyFor<T>(q: FrameQueue<T>, ms: number): OperatorFunction<T[], T[]> {
  return concatMap((b) =>
    of(b).pipe(
      delay(ms),
      tap(() => q.ready()),
    ),
  );
}

describe('FrameQueue', () => {
  test('a batch leaves at maxBatch frames or after maxWaitMs, whichever first', () => {
    scheduler().run(({ cold, expectObservable }) => {
      const q = new FrameQueue<string>({ capacity: 10, policy: 'drop-oldest', maxBatch: 3, maxWaitMs: 5 }, {}, undefined);
      const src = cold('a-b-c-d----------|');
      const out = q.batches(src).pipe(tap(() => q.ready()));
      // a,b,c at frames 0,2,4 -> batch at 4; d at 6 waits 5 ms -> batch at 11; completion at 17.
      expectObservable(out).toBe('----x------y-----|', { x: ['a', 'b', 'c'], y: ['d'] });
    });
  });

  test('while the consumer is busy frames accumulate; the oldest are dropped beyond capacity', () => {
    scheduler().run(({ cold, expectObservable }) => {
      const dropped: string[] = [];
      const q = new FrameQueue<string>(
        { capacity: 1, policy: 'drop-oldest', maxBatch: 2, maxWaitMs: 0 },
        { onDrop: (d) => dropped.push(d) },
      );
      const src = cold('a-b-c-d-e|');
      // The consumer takes 5 ms per batch: b and d are pushed out by c and e.
      const out = q.batches(src).pipe(busyFor(q, 5));
      expectObservable(out).toBe('-----x----y----(z|)', { x: ['a'], y: ['c'], z: ['e'] });
    });
  });

  test('endsBatch: a batch ends after a row-ending frame, also when rows queue up behind a busy consumer', () => {
    scheduler().run(({ cold, expectObservable }) => {
      // Capitals end a row; no size limit, so only row ends (and the timeout) cut batches.
      const q = new FrameQueue<string>(
        { capacity: 20, policy: 'block', maxBatch: Infinity, maxWaitMs: 50, endsBatch: (f) => f === f.toUpperCase() },
        {},
      );
      const src = cold('(abC)-(deF)(ghI)|');
      // The first row leaves at 0; rows two and three arrive while it is in inference (10 ms),
      // and leave one at a time, never mixed.
      const out = q.batches(src).pipe(busyFor(q, 10));
      expectObservable(out).toBe('----------x---------y---------(z|)', { x: ['a', 'b', 'C'], y: ['d', 'e', 'F'], z: ['g', 'h', 'I'] });
    });
  });

  test('endsBatch with maxBatch: a row wider than maxBatch goes in full batches, its tail on its own', () => {
    scheduler().run(({ cold, expectObservable }) => {
      const q = new FrameQueue<string>({
        capacity: 20,
        policy: 'block',
        maxBatch: 2,
        maxWaitMs: 50,
        endsBatch: (f) => f === f.toUpperCase(),
      });
      const out = q.batches(cold('(abC)----(dE)|')).pipe(tap(() => q.ready()));
      expectObservable(out).toBe('(xy)-----z---|', { x: ['a', 'b'], y: ['C'], z: ['d', 'E'] });
    });
  });

  test('drops are reported', () => {
    const dropped: string[] = [];
    scheduler().run(({ cold, expectObservable }) => {
      const q = new FrameQueue<string>(
        { capacity: 1, policy: 'drop-oldest', maxBatch: 2, maxWaitMs: 0 },
        { onDrop: (d) => dropped.push(d) },
      );
      const out = q.batches(cold('a-b-c-d-e|')).pipe(busyFor(q, 5));
      expectObservable(out).toBe('-----x----y----(z|)', { x: ['a'], y: ['c'], z: ['e'] });
    });
    assert.deepEqual(dropped, ['b', 'd']);
  });

  test('block policy: the source waits for room instead of dropping', async () => {
    const q = new FrameQueue<number>({ capacity: 2, policy: 'block', maxBatch: 1, maxWaitMs: 0 });
    const order: string[] = [];
    const { Observable } = await import('rxjs');
    const src = new Observable<number>((s) => {
      (async () => {
        for (let i = 0; i < 5; i++) {
          await q.flow.room();
          order.push(`in${i}`);
          s.next(i);
        }
        s.complete();
      })();
    });
    const got: number[][] = [];
    await new Promise<void>((resolve) =>
      q
        .batches(src)
        .pipe(busyFor(q, 5))
        .subscribe({ next: (b) => got.push(b), complete: resolve }),
    );
    assert.deepEqual(got, [[0], [1], [2], [3], [4]]);
    assert.ok(order.length === 5);
  });
});
