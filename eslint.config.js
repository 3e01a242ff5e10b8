import js from '@eslint/js';
import tseslint from 'typescript-eslint';

export default tseslint.config(
  { ignores: ['node_modules/', 'cdk.out/', '.watchdog/', 'coverage/', '.bench-out/', 'dist/', '.mutation/', '.stryker-tmp/'] },
  js.configs.recommended,
  ...tseslint.configs.recommended,
  // Type-aware rules on every TypeScript file (typescript-eslint's recommended type-checked set).
  ...tseslint.configs.recommendedTypeChecked.map((c) => ({ ...c, files: ['**/*.ts'] })),
  {
    files: ['**/*.ts'],
    languageOptions: { parserOptions: { projectService: true, tsconfigRootDir: import.meta.dirname } },
  },
  {
    rules: {
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_', varsIgnorePattern: '^_' }],
      'no-console': 'off',
    },
  },
  {
    // Test doubles implement async interfaces; an \`async\` body that needs no await is their plainest form.
    // Tests read parsed JSON answers (any) and assert on them: the assertion is the check there.
    files: ['test/**/*.ts', 'bench/**/*.ts'],
    rules: {
      '@typescript-eslint/require-await': 'off',
      '@typescript-eslint/no-unsafe-assignment': 'off',
      '@typescript-eslint/no-unsafe-member-access': 'off',
      '@typescript-eslint/no-unsafe-return': 'off',
    },
  },
  {
    // The core is pure: no AWS SDK, no HTTP client, no filesystem, nothing outside src/core.
    files: ['src/core/**/*.ts'],
    rules: {
      'no-restricted-imports': ['error', { patterns: ['@aws-sdk/*', 'undici', 'node:fs', 'node:http', 'node:https', 'node:net', '../*'] }],
    },
  },
  {
    // Import direction: entry points (http, cli, local, lambda, lambdas, lib) → application
    // (watchdog, runtime, sweep) → domain (core); adapters and shared modules (store,
    // providers, notify, config, security) never import the application or an entry point.
    files: ['src/store/**/*.ts', 'src/providers/**/*.ts', 'src/notify/**/*.ts', 'src/config/**/*.ts', 'src/security/**/*.ts'],
    rules: {
      'no-restricted-imports': [
        'error',
        {
          patterns: [
            '../http/*',
            '../cli/*',
            '../local/*',
            '../lambda/*',
            '../sweep/*',
            '../runtime.js',
            '../watchdog.js',
            '../../lambdas/*',
            '../../lib/*',
            '../../bin/*',
          ],
        },
      ],
    },
  },
  {
    files: ['src/sweep/**/*.ts'],
    rules: {
      'no-restricted-imports': ['error', { patterns: ['../http/*', '../cli/*', '../local/*', '../lambda/*', '../../lambdas/*', '../../lib/*', '../../bin/*'] }],
    },
  },
  {
    files: ['src/http/**/*.ts', 'src/watchdog.ts', 'src/runtime.ts'],
    rules: {
      'no-restricted-imports': [
        'error',
        {
          patterns: [
            '../cli/*',
            '../local/*',
            '../lambda/*',
            './cli/*',
            './local/*',
            './lambda/*',
            '../../lambdas/*',
            '../../lib/*',
            '../lambdas/*',
            '../lib/*',
          ],
        },
      ],
    },
  },
);
