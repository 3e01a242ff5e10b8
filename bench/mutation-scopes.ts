/** What `npm run mutation -- --scope <name>` mutates, and the tests it runs against each mutant. */
export const MUTATION_SCOPES = {
  /** The pure core, from its fast tests. */
  core: {
    mutate: ['src/core/policy.ts', 'src/core/transitions.ts', 'src/core/duration.ts', 'src/core/approval.ts'],
    tests: ['test/core/**/*.test.ts', 'test/config/**/*.test.ts'],
    target: 85,
  },
  /** Signatures and replays: a wrong comparison lets a stranger act; from the webhook's suites on dynalite. */
  security: {
    mutate: ['src/security/signing.ts', 'src/http/verify.ts', 'src/store/replay.ts'],
    tests: ['test/http/signatures.test.ts', 'test/http/webhook.test.ts', 'test/http/hardening.test.ts', 'test/http/scopes.test.ts'],
    target: 90,
  },
  /**
   * The cancel protocol, the sweep and the application service: one wrong condition cancels
   * twice, cancels a finished run or never cancels. From the sweep's suites and the protocol
   * model on dynalite (sweep.test.ts takes it when MUTATION_SCOPE is set), its side paths
   * (guards, preview, safety net), approval mode, the asker's outcome, on-call incidents and
   * aftercare, and the webhook's suites that drive the service.
   */
  protocol: {
    mutate: ['src/app/cancel.ts', 'src/app/sweep.ts', 'src/app/service.ts'],
    tests: [
      'test/sweep/sweep.test.ts',
      'test/sweep/heartbeat-hold.test.ts',
      'test/sweep/loop.test.ts',
      'test/sweep/protocol-model.test.ts',
      'test/sweep/side-paths.test.ts',
      'test/sweep/cancel-protocol.test.ts',
      'test/sweep/sweep-paths.test.ts',
      'test/sweep/confirmation.test.ts',
      'test/http/webhook.test.ts',
      'test/http/scopes.test.ts',
      'test/http/service.test.ts',
      'test/http/approval.test.ts',
      'test/http/asker.test.ts',
      'test/notify/oncall.test.ts',
    ],
    target: 80,
  },
} as const;
export type MutationScope = keyof typeof MUTATION_SCOPES;
