import js from '@eslint/js';
import tseslint from 'typescript-eslint';
import { builtinModules } from 'node:module';

export default tseslint.config(
  { ignores: ['node_modules/**', '.state/**', 'trainer/**', 'coverage/**', '*.config.{js,mjs}', 'test/node-env.js'] },
  js.configs.recommended,
  ...tseslint.configs.recommended,
  {
    languageOptions: { parserOptions: { projectService: true, tsconfigRootDir: import.meta.dirname } },
    rules: {
      '@typescript-eslint/no-floating-promises': 'error',
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_', varsIgnorePattern: '^_' }],
    },
  },
  {
    // Workflow code is replayed deterministically: no Node built-ins, no I/O, no database.
    files: ['workflows/**/*.ts'],
    rules: {
      'no-restricted-imports': [
        'error',
        {
          paths: [...builtinModules, ...builtinModules.map((m) => `node:${m}`), '@prisma/client', 'axios', 'sharp'],
          // Activity *types* are how workflows call them; activity code itself must never be bundled.
          patterns: [
            { group: ['**/activities', '**/activities/**'], allowTypeImports: true },
            { group: ['**/lib/db*', '**/lib/services/**'] },
          ],
        },
      ],
    },
  },
  {
    // Plain JavaScript (the chart renderer, which loads ESM-only vega; tool configs) is outside the TS project.
    files: ['**/*.mjs', '**/*.cjs'],
    ...tseslint.configs.disableTypeChecked,
    languageOptions: {
      parserOptions: { projectService: false },
      globals: { process: 'readonly', Buffer: 'readonly', module: 'writable' },
    },
  },
);
