// The tree's boundaries as lint rules (npm run lint:deps). Paths are relative
// to the repository root; each rule says which imports cross a line the
// layout draws. Type-only imports count (tsPreCompilationDeps): a type import
// still ties two modules' designs together, and a cycle through types is
// still a cycle a reader has to untangle.

// The one balancer/ module client/ may import: the routing core the in-process
// (proxyless) client shares with the balancer. Everything else in balancer/ is
// the proxy process itself. Change this line if the module moves or is renamed.
const CLIENT_BALANCER_ENTRY = 'balancer/core.ts';

/** A path as an anchored regular expression (dependency-cruiser matches paths by regex). */
const exactly = (file) => `^${file.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}$`;

// Anything that is not the project's own code: node: built-ins and npm packages.
const EXTERNAL = ['^node_modules/'];

module.exports = {
  forbidden: [
    {
      name: 'no-circular',
      severity: 'error',
      comment: 'No import cycles, type-only ones included: a cycle means two modules can only be read, tested and moved together.',
      from: {},
      to: { circular: true },
    },
    {
      name: 'http2-self-contained',
      severity: 'error',
      comment: 'http2/ is a standalone HTTP/2 server + HPACK: it imports only itself, node: built-ins and npm packages.',
      from: { path: '^http2/' },
      to: { pathNot: ['^http2/', ...EXTERNAL], dependencyTypesNot: ['core'] },
    },
    {
      name: 'http2-only-from-front',
      severity: 'error',
      comment:
        'Only the balancer front (and tests) use the hand-written HTTP/2 server; everything else speaks through node:http2 or grpc-js.',
      from: { pathNot: ['^http2/', '^balancer/front/', '^test/'] },
      to: { path: '^http2/' },
    },
    {
      name: 'no-sidecar-from-balancer-or-client',
      severity: 'error',
      comment: 'The balancer and the client talk to sidecars over the wire (protocol/), never by importing sidecar code.',
      from: { path: '^(balancer|client)/' },
      to: { path: '^sidecar/' },
    },
    {
      name: 'bench-not-test-or-cli',
      severity: 'error',
      comment: 'Benchmarks share helpers with tests through testkit/, and are started by cli/, not the other way round.',
      from: { path: '^bench/' },
      to: { path: '^(test|cli)/' },
    },
    {
      name: 'client-balancer-only-through-core',
      severity: 'error',
      comment: `client/ imports from balancer/ only ${CLIENT_BALANCER_ENTRY} (CLIENT_BALANCER_ENTRY in this file): the rest of balancer/ is the proxy process.`,
      from: { path: '^client/' },
      to: { path: '^balancer/', pathNot: exactly(CLIENT_BALANCER_ENTRY) },
    },
    {
      name: 'protocol-imports-common-only',
      severity: 'error',
      comment: 'protocol/ is what every process speaks: of the project it may import only common/, proto/gen and itself.',
      from: { path: '^protocol/' },
      to: { pathNot: ['^protocol/', '^common/', '^proto/gen/', ...EXTERNAL], dependencyTypesNot: ['core'] },
    },
    {
      name: 'common-imports-nothing',
      severity: 'error',
      comment: 'common/ is the bottom layer: of the project it may import only itself and proto/gen.',
      from: { path: '^common/' },
      to: { pathNot: ['^common/', '^proto/gen/', ...EXTERNAL], dependencyTypesNot: ['core'] },
    },
    {
      name: 'testkit-not-test-or-bench',
      severity: 'error',
      comment: 'testkit/ is shared by test/ and bench/, so it cannot import either of them.',
      from: { path: '^testkit/' },
      to: { path: '^(test|bench)/' },
    },
    {
      name: 'sidecar-not-balancer-or-client',
      severity: 'error',
      comment: 'The sidecar serves the protocol; it never imports the balancer or the client that call it.',
      from: { path: '^sidecar/' },
      to: { path: '^(balancer|client)/' },
    },
    {
      name: 'discovery-client-not-server',
      severity: 'error',
      comment:
        'discovery/client/ runs inside sidecars and balancers: it speaks to the service over the wire and imports none of discovery/server/ or store/.',
      from: { path: '^discovery/client/' },
      to: { path: '^discovery/(server|store)/' },
    },
    {
      name: 'discovery-shared-not-sides',
      severity: 'error',
      comment: "discovery's shared files (types, wire, cluster-changes) serve both sides, so they import neither.",
      from: { path: '^discovery/[^/]+$' },
      to: { path: '^discovery/(server|store|client)/' },
    },
    {
      name: 'routing-config-is-a-contract',
      severity: 'error',
      comment: 'routing-config/ is the contract the balancer and the client consume: it imports none of them, nor a discovery side.',
      from: { path: '^routing-config/' },
      to: { path: '^(balancer|client|sidecar|cli|bench)/|^discovery/(server|store|client)/' },
    },
    {
      name: 'product-not-tests-or-bench',
      severity: 'error',
      comment: 'What ships imports no test, testkit or bench code (cli/ starts benchmarks, so it may import bench/).',
      from: { path: '^(http2|protocol|routing-config|common|discovery|balancer|sidecar|client|models)/' },
      to: { path: '^(test|testkit|bench)/' },
    },
    {
      name: 'not-to-unresolvable',
      severity: 'error',
      comment: 'An import that does not resolve hides its edge from every rule above (run npm run gen:proto first for proto/gen).',
      from: {},
      to: { couldNotResolve: true },
    },
  ],
  options: {
    // Sources only. Generated proto/gen types are not followed, but stay in the graph as
    // targets, so an import of them from where none belongs is still caught.
    exclude: { path: '^(dist|node_modules|deploy|bench/results)/' },
    doNotFollow: { path: ['^node_modules/', '^proto/gen/'] },
    tsPreCompilationDeps: true,
    tsConfig: { fileName: 'tsconfig.json' },
    moduleSystems: ['cjs', 'es6'],
    enhancedResolveOptions: {
      extensions: ['.ts', '.d.ts', '.js', '.mjs', '.cjs', '.json'],
      exportsFields: ['exports'],
      conditionNames: ['import', 'require', 'node', 'default', 'types'],
    },
    reporterOptions: {
      text: { highlightFocused: true },
    },
  },
};
