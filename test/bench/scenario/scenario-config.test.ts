// The scenario schema (bench/scenario/scenario-config.ts): a good file
// resolves to fully defaulted phases, every shipped scenario parses, and each
// bad field is one named error with its line.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readdirSync } from 'node:fs';
import * as path from 'node:path';
import { ConfigError, formatIssue } from '../../../common/config-check';
import { loadScenario, parseScenario } from '../../../bench/scenario/scenario-config';

const GOOD = `name: t
topology:
  sidecars: [{}, { fault_delay_ms: 50, fault_abort_percent: 5 }]
  balancer: { workers: 2 }
  peers: [nginx]
defaults: { duration: 2s, warmup: 500ms, connections: 2 }
phases:
  - { target: infergate, rate: 100 }
  - { label: nginx stream, target: nginx, mode: stream, rate: 100, duration: 3 }
  - { target: sidecar:1, mode: rest, concurrency: 8, prime: 1m, drain: 1s }
  - { label: up, target: infergate, steps: [100, 200], stop_at_saturation: false, version: 2 }
`;

test('a good scenario resolves every phase with defaults, built-ins and canonical targets', () => {
  const sc = parseScenario(GOOD, 's.yaml');
  assert.equal(sc.name, 't');
  assert.deepEqual(sc.topology, {
    sidecars: [
      { faultDelayMs: 0, faultAbortPercent: 0 },
      { faultDelayMs: 50, faultAbortPercent: 5 },
    ],
    balancers: [{ workers: 2 }],
    peers: ['nginx'],
  });
  const common = { model: 'ranker', warmupMs: 500, primeMs: 0, connections: 2, workers: 1, durationMs: 2000 };
  assert.deepEqual(sc.phases, [
    { ...common, mode: 'unary', label: 'infergate unary 100/s', target: 'infergate:0', rate: 100, stopAtSaturation: true },
    { ...common, mode: 'stream', label: 'nginx stream', target: 'nginx', rate: 100, durationMs: 3000, stopAtSaturation: true },
    {
      ...common,
      mode: 'rest',
      label: 'sidecar:1 rest c8',
      target: 'sidecar:1',
      concurrency: 8,
      primeMs: 60_000,
      drainMs: 1000,
      stopAtSaturation: true,
    },
    { ...common, mode: 'unary', label: 'up', target: 'infergate:0', steps: [100, 200], version: '2', stopAtSaturation: false },
  ]);
});

test('a list of balancers names them infergate:N; infergate is the first', () => {
  const sc = parseScenario(
    'name: t\ntopology:\n  sidecars: [{}]\n  balancer: [{ workers: 1 }, {}]\nphases:\n  - { target: infergate, rate: 1 }\n  - { target: "infergate:1", rate: 1 }\n',
    's.yaml',
  );
  assert.deepEqual(sc.topology.balancers, [{ workers: 1 }, { workers: 1 }]);
  assert.deepEqual(
    sc.phases.map((p) => [p.target, p.label]),
    [
      ['infergate:0', 'infergate:0 unary 1/s'],
      ['infergate:1', 'infergate:1 unary 1/s'],
    ],
  );
});

test('every shipped scenario parses', async () => {
  const dir = path.resolve(__dirname, '../../../../bench/scenarios');
  const files = readdirSync(dir).filter((f) => f.endsWith('.yaml'));
  assert.deepEqual(files.sort(), ['quick.yaml', 'scale.yaml', 'skew-matrix.yaml', 'skew.yaml', 'stream-vs-unary.yaml']);
  // skew-matrix.yaml is not a scenario: bench/skew-matrix/matrix-config.ts reads it, and its own test parses it.
  for (const f of files.filter((x) => x !== 'skew-matrix.yaml')) {
    const sc = await loadScenario(path.join(dir, f));
    assert.equal(`${sc.name}.yaml`, f);
    assert.ok(sc.description, `${f} has a description`);
  }
});

/** Errors of a file whose topology and phases default to a working pair, with `lines` spliced in. */
function errors(text: string): string[] {
  try {
    parseScenario(text, 's.yaml');
  } catch (e) {
    if (!(e instanceof ConfigError)) throw e;
    return e.issues.map(formatIssue);
  }
  return [];
}

const TOPO = 'topology:\n  sidecars: [{}, {}]\n  balancer: { workers: 1 }\n  peers: [haproxy]\n';
const ok = (phase: string, extra = '') => `name: t\n${TOPO}${extra}phases:\n  - ${phase}\n`;

test('each bad field is one error naming file, line, field, what was found and what was expected', () => {
  // [case, text, the one expected error]
  const table: [string, string, RegExp][] = [
    [
      'name missing',
      `${TOPO}phases: [{ target: infergate, rate: 1 }]\n`,
      /^s\.yaml:1:1: name: found no value \(field missing\); expected a non-empty string$/,
    ],
    [
      'top-level typo',
      `name: t\n${TOPO}phase: []\nphases: [{ target: infergate, rate: 1 }]\n`,
      /^s\.yaml:6:1: phase: found an unknown field; expected a known field \(did you mean phases\?\)$/,
    ],
    [
      'no phases',
      `name: t\n${TOPO}phases: []\n`,
      /^s\.yaml:6:9: phases: found an empty list; expected at least one item in a list of phases$/,
    ],
    [
      'no sidecars',
      'name: t\ntopology:\n  sidecars: []\nphases: [{ target: sidecar:0, rate: 1 }]\n',
      /^s\.yaml:3:13: topology\.sidecars: found an empty list; expected at least one item/,
    ],
    [
      'negative delay',
      'name: t\ntopology:\n  sidecars: [{ fault_delay_ms: -5 }]\nphases: [{ target: sidecar:0, rate: 1 }]\n',
      /^s\.yaml:3:32: topology\.sidecars\[0\]\.fault_delay_ms: found -5; expected an integer from 0 to 600000$/,
    ],
    [
      'abort over 100',
      'name: t\ntopology:\n  sidecars:\n    - fault_abort_percent: 150\nphases: [{ target: sidecar:0, rate: 1 }]\n',
      /^s\.yaml:4:28: topology\.sidecars\[0\]\.fault_abort_percent: found 150; expected a number from 0 to 100$/,
    ],
    [
      'sidecar field typo',
      'name: t\ntopology:\n  sidecars: [{ fault_delay: 5 }]\nphases: [{ target: sidecar:0, rate: 1 }]\n',
      /^s\.yaml:3:16: topology\.sidecars\[0\]\.fault_delay: found an unknown field; expected a known field \(did you mean fault_delay_ms\?\)$/,
    ],
    [
      'workers 0',
      'name: t\ntopology:\n  sidecars: [{}]\n  balancer: { workers: 0 }\nphases: [{ target: infergate, rate: 1 }]\n',
      /^s\.yaml:4:24: topology\.balancer\.workers: found 0; expected an integer from 1 to 64$/,
    ],
    [
      'unknown peer',
      'name: t\ntopology:\n  sidecars: [{}]\n  peers: [envoy]\nphases: [{ target: sidecar:0, rate: 1 }]\n',
      /^s\.yaml:4:11: topology\.peers\[0\]: found "envoy"; expected one of nginx, haproxy$/,
    ],
    [
      'peer twice',
      'name: t\ntopology:\n  sidecars: [{}]\n  peers: [nginx, nginx]\nphases: [{ target: sidecar:0, rate: 1 }]\n',
      /^s\.yaml:4:18: topology\.peers\[1\]: found nginx again; expected each peer once$/,
    ],
    [
      'mode typo',
      ok('{ target: infergate, rate: 1 }', 'defaults: { mode: grpc }\n'),
      /^s\.yaml:6:19: defaults\.mode: found "grpc"; expected one of unary, stream, rest$/,
    ],
    [
      'bad duration',
      ok('{ target: infergate, rate: 1, duration: 5 sec }'),
      /^s\.yaml:7:45: phases\[0\]\.duration: found "5 sec"; expected a duration from 500 ms to 10 m/,
    ],
    [
      'duration too long',
      ok('{ target: infergate, rate: 1, duration: 11m }'),
      /phases\[0\]\.duration: found "11m"; expected a duration from 500 ms to 10 m/,
    ],
    [
      'connections 0',
      ok('{ target: infergate, rate: 1, connections: 0 }'),
      /^s\.yaml:7:48: phases\[0\]\.connections: found 0; expected an integer from 1 to 1024$/,
    ],
    [
      'bad version',
      ok('{ target: infergate, rate: 1, version: abc }'),
      /^s\.yaml:7:44: phases\[0\]\.version: found "abc"; expected a positive integer version, e\.g\. 1$/,
    ],
    [
      'target missing',
      ok('{ rate: 1 }'),
      /^s\.yaml:7:5: phases\[0\]\.target: found no value \(field missing\); expected a non-empty string$/,
    ],
    [
      'target unknown',
      ok('{ target: envoy, rate: 1 }'),
      /^s\.yaml:7:15: phases\[0\]\.target: found "envoy"; expected infergate, infergate:N, nginx, haproxy or sidecar:N$/,
    ],
    [
      'peer not in topology',
      ok('{ target: nginx, rate: 1 }'),
      /^s\.yaml:7:15: phases\[0\]\.target: found "nginx"; expected a peer listed in topology\.peers \(add nginx there\)$/,
    ],
    [
      'sidecar out of range',
      ok('{ target: "sidecar:2", rate: 1 }'),
      /^s\.yaml:7:15: phases\[0\]\.target: found "sidecar:2"; expected sidecar:0 to sidecar:1$/,
    ],
    [
      'sidecar without index',
      ok('{ target: sidecar, rate: 1 }'),
      /phases\[0\]\.target: found "sidecar"; expected sidecar:N, a sidecar index from 0$/,
    ],
    [
      'no balancer',
      'name: t\ntopology:\n  sidecars: [{}]\nphases: [{ target: infergate, rate: 1 }]\n',
      /^s\.yaml:4:20: phases\[0\]\.target: found "infergate"; expected a target the topology starts \(no topology\.balancer\)$/,
    ],
    [
      'rest to a peer',
      ok('{ target: haproxy, mode: rest, rate: 1 }'),
      /phases\[0\]\.target: found "haproxy"; expected infergate or sidecar:N for mode rest/,
    ],
    [
      'rate and concurrency',
      ok('{ target: infergate, rate: 1, concurrency: 2 }'),
      /^s\.yaml:7:5: phases\[0\]: found rate and concurrency; expected exactly one of rate, concurrency, steps$/,
    ],
    [
      'no load',
      ok('{ target: infergate }'),
      /^s\.yaml:7:5: phases\[0\]: found none of them; expected exactly one of rate, concurrency, steps$/,
    ],
    [
      'rate zero',
      ok('{ target: infergate, rate: 0 }'),
      /^s\.yaml:7:32: phases\[0\]\.rate: found 0; expected a number from 0\.1 to 1000000$/,
    ],
    [
      'steps not ascending',
      ok('{ target: infergate, steps: [100, 50] }'),
      /^s\.yaml:7:39: phases\[0\]\.steps\[1\]: found 50; expected a rate above the step before \(100\)$/,
    ],
    [
      'stop without steps',
      ok('{ target: infergate, rate: 1, stop_at_saturation: false }'),
      /^s\.yaml:7:55: phases\[0\]\.stop_at_saturation: found false; expected stop_at_saturation only with steps$/,
    ],
    [
      'phase field typo',
      ok('{ target: infergate, rate: 1, wramup: 1s }'),
      /phases\[0\]\.wramup: found an unknown field; expected a known field \(did you mean warmup\?\)$/,
    ],
  ];
  for (const [name, text, want] of table) {
    const got = errors(text);
    assert.equal(got.length, 1, `${name}: one error, got ${JSON.stringify(got)}`);
    assert.match(got[0], want, name);
  }
});

test('every problem in a file is listed at once, in line order', () => {
  const got = errors(
    'name: t\ntopology:\n  sidecars: [{ fault_delay_ms: x }]\n  peers: [envoy]\nphases:\n  - { target: nginx, rate: -1 }\n',
  );
  assert.deepEqual(
    got.map((e) => e.split(':').slice(0, 2).join(':')),
    ['s.yaml:3', 's.yaml:4', 's.yaml:6', 's.yaml:6'],
  );
});
