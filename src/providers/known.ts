/** Built-in provider ids (one adapter file each). Generic `http` providers are declared in config. */
export const BUILTIN_PROVIDERS = ['catalyzed', 'kodexa', 'ionworks', 'superglue', 'meibel'] as const;
export type BuiltinProvider = (typeof BUILTIN_PROVIDERS)[number];
export const isBuiltinProvider = (p: string): p is BuiltinProvider => (BUILTIN_PROVIDERS as readonly string[]).includes(p);
/**
 * Built-in providers whose public documentation describes a list of running executions
 * (see each adapter file). Kodexa documents GET /api/executions without a status filter (a
 * walk through the whole history), Ionworks lists only SimplePipelines, and Meibel documents
 * no list of batch executions: no discovery for those three.
 */
export const DISCOVERABLE = ['catalyzed', 'superglue'] as const satisfies readonly BuiltinProvider[];

/** Whether a provider lists its running executions: built in for DISCOVERABLE, declared (`providers.<name>.list`) for a generic one. */
export const listsRunning = (provider: string, declaresList: (generic: string) => boolean): boolean =>
  isBuiltinProvider(provider) ? (DISCOVERABLE as readonly string[]).includes(provider) : declaresList(provider);
