import js from '@eslint/js';
import tseslint from 'typescript-eslint';

export default tseslint.config(
  { ignores: ['node_modules/', 'cdk.out/', '.watchdog/', 'coverage/', '.bench-out/', 'dist/', '.mutation/', '.stryker-tmp/', 'packages/*/dist/'] },
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
    // Import direction: entry points (http, cli, local, simulators, lambda, lambdas, lib, bin)
    // → application (app, runtime) → domain (core); adapters and shared modules (store,
    // providers, notify, config, security) never import the application or an entry point.
    files: ['src/store/**/*.ts', 'src/providers/**/*.ts', 'src/notify/**/*.ts', 'src/config/**/*.ts', 'src/security/**/*.ts'],
    rules: {
      'no-restricted-imports': [
        'error',
        {
          patterns: [
            '../app/*',
            '../http/*',
            '../cli/*',
            '../local/*',
            '../lambda/*',
            '../simulators/*',
            '../runtime.js',
            '../../lambdas/*',
            '../../lib/*',
            '../../bin/*',
          ],
        },
      ],
    },
  },
  {
    // The application never reaches up into an entry point.
    files: ['src/app/**/*.ts', 'src/runtime.ts'],
    rules: {
      'no-restricted-imports': [
        'error',
        {
          patterns: [
            '../http/*',
            '../cli/*',
            '../local/*',
            '../lambda/*',
            '../simulators/*',
            './http/*',
            './cli/*',
            './local/*',
            './lambda/*',
            './simulators/*',
            '../runtime.js',
            '../../lambdas/*',
            '../../lib/*',
            '../../bin/*',
            '../lambdas/*',
            '../lib/*',
            '../bin/*',
          ],
        },
      ],
    },
  },
  {
    // The webhook is one entry point among others: it does not reach into the CLI, the local tools or the Lambda wiring.
    files: ['src/http/**/*.ts'],
    rules: {
      'no-restricted-imports': [
        'error',
        {
          patterns: [
            '../cli/*',
            '../local/*',
            '../lambda/*',
            '../simulators/*',
            '../../cli/*',
            '../../local/*',
            '../../lambda/*',
            '../../simulators/*',
            '../../lambdas/*',
            '../../lib/*',
            '../../bin/*',
            '../../../lambdas/*',
            '../../../lib/*',
            '../../../bin/*',
          ],
        },
      ],
    },
  },
);
