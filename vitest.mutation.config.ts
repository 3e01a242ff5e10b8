import { defineConfig } from 'vitest/config';
import { MUTATION_SCOPES, type MutationScope } from './bench/mutation-scopes.js';

/**
 * The tests `npm run mutation` runs against each mutant, per scope (MUTATION_SCOPE, set by
 * bench/mutation.ts): the fast tests of the pure core; the webhook's suites on the in-process
 * engine (dynalite) for the security scope; the sweep's suites and the protocol model on
 * dynalite for the protocol scope.
 */
const scope = (process.env.MUTATION_SCOPE ?? 'core') as MutationScope;
export default defineConfig({
  test: {
    include: [...MUTATION_SCOPES[scope].tests],
    passWithNoTests: false,
    // One worker keeps its modules across test files (StrykerJS runs one thread per worker):
    // each file would otherwise import the SDK and the app again, for every mutant — about a
    // second a file, most of a mutant's cost. Mutants are switched at run time (StrykerJS's
    // mutation switching), so a cached module still runs the active one.
    isolate: false,
    // A mutant that hangs a test (a slot never given back, a promise never settled) fails it
    // in 20 s rather than running into StrykerJS's timeout and a restart of its worker: the
    // slowest test here takes about 5 s.
    testTimeout: 20_000,
    hookTimeout: 120_000,
    env: {
      AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED: 'true',
      WATCHDOG_TEST_NO_JAVA: '1',
      MUTATION_SCOPE: scope,
      // The protocol model per mutant: a short budget, and the first failure is enough (no shrinking).
      MODEL_RUNS: '4',
      MODEL_SHRINK: '0',
    },
  },
});
