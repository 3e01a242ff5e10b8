/** Built-in provider ids (one adapter file each). Generic `http` providers are declared in config. */
export const BUILTIN_PROVIDERS = ['catalyzed', 'kodexa', 'ionworks', 'superglue', 'meibel'] as const;
export type BuiltinProvider = (typeof BUILTIN_PROVIDERS)[number];
export const isBuiltinProvider = (p: string): p is BuiltinProvider => (BUILTIN_PROVIDERS as readonly string[]).includes(p);
