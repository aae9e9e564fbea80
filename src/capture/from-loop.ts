// A source's read loop as an Observable: the loop emits until its source is exhausted and
// checks `closed()` to stop early when nobody listens any more.
import { Observable } from 'rxjs';

export const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

export function fromLoop<T>(loop: (emit: (v: T) => void, closed: () => boolean) => Promise<void>): Observable<T> {
  return new Observable<T>((subscriber) => {
    let stopped = false;
    loop(
      (v) => subscriber.next(v),
      () => stopped || subscriber.closed,
    ).then(
      () => subscriber.complete(),
      (e) => subscriber.error(e),
    );
    return () => {
      stopped = true;
    };
  });
}
