// Choosing execution providers without reading error text: providers this onnxruntime build
// does not have (listSupportedBackends) are dropped before anything is tried; then, when a
// session cannot be created, the most preferred accelerator left is dropped and creation tried
// again, until it works on what is left ('cpu' is always last). What was dropped, and why, is
// reported; the providers of the session that was created are the ones in use.

/** A provider as onnxruntime-node takes it: a name, or an object with `name` and options. */
export type ProviderConfig = string | { name: string; [option: string]: unknown };

/** A preferred execution provider that could not be used, and why. */
export interface ProviderFallback {
  provider: string;
  reason: string;
}

export const providerName = (p: ProviderConfig): string => (typeof p === 'string' ? p : p.name);

export interface FallbackResult<S> {
  session: S;
  /** Providers the session was created with, in order of preference. */
  providers: string[];
  fallbacks: ProviderFallback[];
}

/**
 * `supported`: names from onnxruntime's listSupportedBackends(), or undefined when this
 * onnxruntime cannot say (every provider is then tried).
 */
export async function createWithFallback<S>(
  wanted: ProviderConfig[],
  supported: ReadonlySet<string> | undefined,
  create: (providers: ProviderConfig[]) => Promise<S>,
): Promise<FallbackResult<S>> {
  const fallbacks: ProviderFallback[] = [];
  let providers = wanted.some((p) => providerName(p) === 'cpu') ? [...wanted] : [...wanted, 'cpu'];
  if (supported) {
    const missing = providers.filter((p) => providerName(p) !== 'cpu' && !supported.has(providerName(p)));
    for (const p of missing) {
      fallbacks.push({ provider: providerName(p), reason: `not in this onnxruntime build (it has: ${[...supported].join(', ')})` });
    }
    providers = providers.filter((p) => !missing.includes(p));
  }
  for (;;) {
    try {
      return { session: await create(providers), providers: providers.map(providerName), fallbacks };
    } catch (e) {
      const accelerator = providers.findIndex((p) => providerName(p) !== 'cpu');
      if (accelerator < 0) throw e;
      fallbacks.push({
        provider: providerName(providers[accelerator]!),
        reason: String((e as Error).message)
          .split('\n')[0]!
          .slice(0, 300),
      });
      providers = providers.filter((_, i) => i !== accelerator);
    }
  }
}
