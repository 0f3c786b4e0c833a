// ESLint (npm run lint:eslint): tsc already checks types and unused names, so
// this adds what tsc cannot see: `any` on the code's surfaces, and the
// real-bug rules that need type information (promises nobody awaits or
// catches, promises passed where a callback's result is ignored).
//
// Type-aware linting costs one TypeScript program (projectService reads
// tsconfig.json): about 25 s on a 2-core machine, the same order as tsc.
import js from '@eslint/js';
import tseslint from 'typescript-eslint';
import { defineConfig, globalIgnores } from 'eslint/config';

// node:test's test()/describe()/it() return promises that the runner itself
// awaits; not awaiting them at the top of a test file is how node:test is used.
const NODE_TEST_CALLS = [
  { from: 'package', package: 'node:test', name: ['test', 'describe', 'suite', 'it', 'before', 'after', 'beforeEach', 'afterEach'] },
];

export default defineConfig(
  globalIgnores(['dist/', 'proto/gen/', 'bench/results/', 'deploy/', 'coverage/']),

  js.configs.recommended,
  tseslint.configs.recommended,
  {
    languageOptions: {
      parserOptions: { projectService: true, tsconfigRootDir: import.meta.dirname },
    },
    linterOptions: { reportUnusedDisableDirectives: 'error' },
    rules: {
      // Left to tsc (strict; noUnusedLocals/noUnusedParameters are the place to turn this on).
      '@typescript-eslint/no-unused-vars': 'off',
      // Errors are rethrown with the cause's message in their text (sidecar/runtime/workflow.ts);
      // adding { cause } everywhere is a change of its own, not a lint's first pass.
      'preserve-caught-error': 'off',
      // Style, not a bug; what it flags here are lets declared ahead of the closures that
      // read them (balancer/front/stream-call.ts cancel, discovery/server/service.ts sub).
      'prefer-const': 'off',

      // Type-aware rules, picked one by one rather than recommendedTypeChecked: those
      // below find bugs; the rest of that set mostly restates style on this tree
      // (no-unnecessary-type-assertion, require-await, restrict-template-expressions,
      // no-unsafe-* on `new Array(n)`), or flags closures stored in method-typed
      // fields (unbound-method: 3 findings, all closures that never use `this`).
      '@typescript-eslint/no-floating-promises': ['error', { allowForKnownSafeCalls: NODE_TEST_CALLS }],
      '@typescript-eslint/no-misused-promises': 'error',
      '@typescript-eslint/await-thenable': 'error',
      '@typescript-eslint/no-for-in-array': 'error',
      '@typescript-eslint/no-implied-eval': 'error',
      '@typescript-eslint/no-array-delete': 'error',
      '@typescript-eslint/only-throw-error': 'error',
      '@typescript-eslint/no-unsafe-unary-minus': 'error',
    },
  },
  {
    // HTTP/2 frame flags: ACK and END_STREAM are both bit 0x1 (RFC 9113 §6), on different frame types.
    files: ['http2/frames.ts'],
    rules: { '@typescript-eslint/no-duplicate-enum-values': 'off' },
  },
  {
    // The one require(): a workflow module chosen at run time, loaded synchronously (see its comment).
    files: ['sidecar/runtime/workflow.ts'],
    rules: { '@typescript-eslint/no-require-imports': 'off' },
  },
  {
    files: ['test/**'],
    rules: {
      // Tests reach into internals and feed deliberately ill-typed values; `any` is
      // banned where it leaks into other code, on the product's own surfaces.
      '@typescript-eslint/no-explicit-any': 'off',
      // Test doubles rethrow whatever failure the test hands them (test/helpers/fake-runner.ts).
      '@typescript-eslint/only-throw-error': 'off',
      // Tests assert that output has no ANSI escapes (\x1b) in it.
      'no-control-regex': 'off',
      // test/http2/hpack.test.ts writes bits and frames with terse `if (x) (a(), (b = c));` statements.
      '@typescript-eslint/no-unused-expressions': 'off',
    },
  },
  {
    // Plain JavaScript (scripts/*.mjs, this file, .dependency-cruiser.cjs): no type information.
    files: ['**/*.{js,mjs,cjs}'],
    extends: [tseslint.configs.disableTypeChecked],
    languageOptions: {
      globals: { require: 'readonly', module: 'writable', process: 'readonly', console: 'readonly', __dirname: 'readonly' },
    },
    rules: { '@typescript-eslint/no-require-imports': 'off' },
  },
);
