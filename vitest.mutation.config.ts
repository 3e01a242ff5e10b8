import { defineConfig } from 'vitest/config';

/** The fast tests that guard the pure core: what `npm run mutation` runs against each mutant. */
export default defineConfig({
  test: {
    include: ['test/core/**/*.test.ts', 'test/config/**/*.test.ts'],
    passWithNoTests: false,
  },
});
