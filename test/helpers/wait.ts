const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/**
 * Polls `what` until it gives a truthy value (returned), failing with `label` after `ms`; a
 * function label is called at the failure, so the message can say how far it got.
 */
export async function waitFor<T>(what: () => T | Promise<T>, label: string | (() => string), ms = 60_000): Promise<NonNullable<T>> {
  const until = Date.now() + ms;
  for (;;) {
    const v = await what();
    if (v) return v as NonNullable<T>;
    if (Date.now() > until) throw new Error(`timed out waiting for ${typeof label === 'function' ? label() : label}`);
    await sleep(100);
  }
}
