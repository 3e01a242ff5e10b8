/** What `npm run mutation -- --scope <name>` mutates, and the tests it runs against each mutant. */
export const MUTATION_SCOPES = {
  /** The pure core, from its fast tests. */
  core: {
    mutate: ['src/core/policy.ts', 'src/core/transitions.ts', 'src/core/duration.ts'],
    tests: ['test/core/**/*.test.ts', 'test/config/**/*.test.ts'],
    target: 85,
  },
  /** Signatures and replays: a wrong comparison lets a stranger act; from the webhook's suites on dynalite. */
  security: {
    mutate: ['src/security/signing.ts', 'src/http/verify.ts', 'src/store/replay.ts'],
    tests: ['test/http/signatures.test.ts', 'test/http/webhook.test.ts', 'test/http/hardening.test.ts', 'test/http/scopes.test.ts'],
    target: 90,
  },
} as const;
export type MutationScope = keyof typeof MUTATION_SCOPES;
