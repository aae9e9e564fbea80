// Request/response over a worker thread: the main-thread client numbers requests and resolves
// each with its reply; the worker side answers every request, errors included. The inference
// runtime and the pixel worker both speak it.
import { Worker, type MessagePort, type TransferListItem } from 'node:worker_threads';

export type Reply<R> = { id: number; ok: true; result: R } | { id: number; ok: false; error: string };

/**
 * A worker running the module at `url`. Under tsx (tests, development) the module is .ts and
 * the worker needs tsx's loader registered before it is imported.
 */
export function moduleWorker(url: URL): Worker {
  if (url.href.endsWith('.ts')) {
    return new Worker(`import('tsx/esm/api').then((m) => { m.register(); return import(${JSON.stringify(url.href)}); });`, { eval: true });
  }
  return new Worker(url);
}

/** `name.ts` under tsx, `name.js` when built: the sibling module `name` of `base`. */
export function siblingModule(base: string, name: string): URL {
  return new URL(`./${name}.${base.endsWith('.ts') ? 'ts' : 'js'}`, base);
}

/**
 * ArrayBuffers of typed arrays found in `value` (a few levels into objects and arrays), for
 * transfer. Only arrays that span their whole buffer: moving a shared buffer would empty every
 * other view of it; those are copied instead.
 */
export function buffersOf(value: unknown, into = new Set<ArrayBuffer>(), depth = 0): Set<ArrayBuffer> {
  if (ArrayBuffer.isView(value)) {
    if (value.buffer instanceof ArrayBuffer && value.byteOffset === 0 && value.byteLength === value.buffer.byteLength)
      into.add(value.buffer);
  } else if (depth < 4 && value && typeof value === 'object') {
    for (const v of Array.isArray(value) ? value : Object.values(value)) buffersOf(v, into, depth + 1);
  }
  return into;
}

export class WorkerClient<Request extends object> {
  private readonly pending = new Map<number, { resolve: (r: unknown) => void; reject: (e: Error) => void }>();
  private nextId = 1;
  private failure: Error | undefined;

  constructor(
    readonly worker: Worker,
    private readonly name: string,
  ) {
    worker.on('message', (reply: Reply<unknown>) => {
      const p = this.pending.get(reply.id);
      if (!p) return;
      this.pending.delete(reply.id);
      if (reply.ok) p.resolve(reply.result);
      else p.reject(new Error(reply.error));
    });
    worker.on('error', (e) => this.failAll(e));
    worker.on('exit', (code) => this.failAll(new Error(`${name} exited with code ${code}`)));
  }

  private failAll(e: Error): void {
    this.failure ??= e;
    for (const p of this.pending.values()) p.reject(e);
    this.pending.clear();
  }

  /** Sends a request; buffers in `transfer` move to the worker (callers must not reuse them). */
  request<R>(body: Request, transfer: TransferListItem[] = []): Promise<R> {
    if (this.failure) return Promise.reject(this.failure);
    const id = this.nextId++;
    return new Promise<R>((resolve, reject) => {
      this.pending.set(id, { resolve: resolve as (r: unknown) => void, reject });
      this.worker.postMessage({ ...body, id }, transfer);
    });
  }

  async close(): Promise<void> {
    this.failure ??= new Error(`${this.name} closed`);
    await this.worker.terminate();
  }
}

/** The worker side: answers each request with `handle`'s result (its typed arrays transferred back). */
export function serveRequests<Request extends { id: number }>(
  port: MessagePort,
  handle: (msg: Request) => Promise<unknown> | unknown,
): void {
  port.on('message', (msg: Request) => {
    Promise.resolve()
      .then(() => handle(msg))
      .then(
        (result) => port.postMessage({ id: msg.id, ok: true, result } satisfies Reply<unknown>, [...buffersOf(result)]),
        (err: unknown) =>
          port.postMessage({ id: msg.id, ok: false, error: err instanceof Error ? err.message : String(err) } satisfies Reply<unknown>),
      );
  });
}
