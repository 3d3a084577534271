// npm run lint: typescript-eslint's type-checked recommended rules, and the
// layering of function/ (README "Project layout and development"):
//   api/    imports nothing of the function but api/
//   core/   pure: only api/ and core/, and no SDK, grpc-js, pino, prom-client or node:*
//   wire/   the codec: only wire/
//   aws/    the CloudWatch adapter: only aws/ and the types of core/analysis/measurements.ts;
//           imported by handler.ts and server/ alone
//   server/ imported by main.ts alone (tests and bench may import anything)
//   no import cycles anywhere.
// Every rule turned off or down here, and every eslint-disable comment in
// the code, says why.
import js from '@eslint/js';
import tseslint from 'typescript-eslint';
import { importX } from 'eslint-plugin-import-x';
import { createTypeScriptImportResolver } from 'eslint-import-resolver-typescript';

const LAYER_PACKAGES_OUTSIDE_CORE = [
  { group: ['@crossplane-org/*'], message: 'core/ is pure: the SDK belongs to handler.ts, wire/ and server/.' },
  { group: ['@grpc/*'], message: 'core/ is pure: gRPC belongs to server/.' },
  { group: ['pino', 'pino/*'], message: 'core/ is pure: logging belongs to server/ and handler.ts.' },
  { group: ['prom-client'], message: 'core/ is pure: metrics belong to server/.' },
  { group: ['@aws-sdk/*'], message: 'core/ is pure: AWS calls belong to aws/.' },
  { group: ['node:*'], message: 'core/ is pure: no Node built-ins (I/O, crypto, timers) in the planners.' },
];

export default tseslint.config(
  { ignores: ['dist/**', 'node_modules/**', 'bench/go-templating/**'] },
  js.configs.recommended,
  ...tseslint.configs.recommendedTypeChecked,
  {
    languageOptions: {
      parserOptions: {
        // tsconfig.test.json covers function/, scripts/, bench/, test/ and the vitest configs.
        project: ['./tsconfig.test.json'],
        tsconfigRootDir: import.meta.dirname,
      },
    },
    plugins: { 'import-x': importX },
    settings: {
      // import-x's TypeScript settings (which files it parses to follow imports; no-cycle needs them), with
      // the resolver that maps './x.js' to x.ts as tsc does.
      ...importX.flatConfigs.typescript.settings,
      'import-x/resolver-next': [createTypeScriptImportResolver({ project: './tsconfig.test.json' })],
    },
    rules: {
      // Off: where the function rethrows, its message already carries the
      // cause's text in one line for the user (a flag, a file, an address), and
      // adding `cause` would change what is logged and printed. A behaviour
      // change, so not in the layout refactoring.
      'preserve-caught-error': 'off',
      // The convention: a leading _ names a parameter or binding kept for its
      // position (a callback's signature, a destructured tuple) and not read.
      '@typescript-eslint/no-unused-vars': [
        'error',
        { argsIgnorePattern: '^_', varsIgnorePattern: '^_', caughtErrorsIgnorePattern: '^_', destructuredArrayIgnorePattern: '^_' },
      ],
      'import-x/no-cycle': 'error',
      'import-x/no-restricted-paths': [
        'error',
        {
          zones: [
            {
              target: './function/api',
              from: './function',
              except: ['./api'],
              message: 'api/ is the bottom layer: it imports nothing of the function but api/.',
            },
            {
              target: './function/core',
              from: './function',
              except: ['./core', './api'],
              message: 'core/ may import only api/ and core/.',
            },
            {
              target: './function/wire',
              from: './function',
              except: ['./wire'],
              message: 'wire/ is the codec: it imports no planner, handler or server.',
            },
            {
              target: './function/aws',
              from: './function',
              except: ['./aws', './core/analysis/measurements.ts'],
              message: 'aws/ may import only aws/ and core/analysis/measurements.ts (the contract it answers).',
            },
            {
              target: ['./function/api', './function/core', './function/wire', './function/cli', './function/main.ts'],
              from: './function/aws',
              message: 'Only handler.ts and server/ import aws/.',
            },
            {
              target: ['./function/api', './function/core', './function/wire', './function/cli', './function/handler.ts', './function/aws'],
              from: './function/server',
              message: 'Only main.ts imports server/.',
            },
          ],
        },
      ],
    },
  },
  {
    files: ['function/core/**/*.ts'],
    rules: {
      'no-restricted-imports': ['error', { patterns: LAYER_PACKAGES_OUTSIDE_CORE }],
    },
  },
  {
    files: ['test/**/*.ts'],
    rules: {
      // Off in tests: they take apart parsed YAML and JSON, API-server and CLI
      // replies, and decoded messages of no static shape, and read them
      // field by field; the expect() that follows is the check, and a cast at
      // every step would only repeat it.
      '@typescript-eslint/no-explicit-any': 'off',
      '@typescript-eslint/no-unsafe-argument': 'off',
      '@typescript-eslint/no-unsafe-assignment': 'off',
      '@typescript-eslint/no-unsafe-call': 'off',
      '@typescript-eslint/no-unsafe-member-access': 'off',
      '@typescript-eslint/no-unsafe-return': 'off',
      // Part of the same: `any | X` unions describe such replies.
      '@typescript-eslint/no-redundant-type-constituents': 'off',
      // Failure messages print whatever came back, "[object Object]" included.
      '@typescript-eslint/no-base-to-string': 'off',
      // The tests destructure helpers ({ call, scrape }, srv.shutdown) that are
      // closures or bound, not methods that read `this`.
      '@typescript-eslint/unbound-method': 'off',
    },
  },
  {
    // This file is plain JavaScript outside every tsconfig: no type information to check it with.
    files: ['eslint.config.js'],
    ...tseslint.configs.disableTypeChecked,
  },
);
