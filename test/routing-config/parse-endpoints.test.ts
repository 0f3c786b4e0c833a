// Static endpoints read for a balancer without discovery: at least one is
// required and every route must name a model one of them serves, each
// problem naming file, field and line. With discovery the same files parse
// (discovery may list the models), which is what the last cases check.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { ConfigError } from '../../common/config-check';
import { parseRoutingConfig } from '../../routing-config/parse';

const ENDPOINTS =
  'endpoints:\n  - { address: "10.0.0.1:8001", models: { ranker: [1, 2] } }\n  - { address: "10.0.0.2:8001", models: { scorer: [] } }\n';

/** [name, yaml, issues ('line:col path') without discovery (empty: parses), message pattern]. */
const CASES: Array<[string, string, string[], RegExp | undefined]> = [
  ['endpoints alone', ENDPOINTS, [], undefined],
  [
    'routes to served models',
    `${ENDPOINTS}models: { ranker: { split: { "1": 9, "2": 1 } } }\nobjectives: { s: { model: scorer } }\n`,
    [],
    undefined,
  ],
  [
    'no endpoints field',
    'models: { ranker: {} }\n',
    ['1:1 endpoints'],
    /found no endpoints; expected at least one static endpoint \{ address, models \} \(the balancer runs without --discovery: pass --discovery or list endpoints\)/,
  ],
  ['an empty endpoints list', 'endpoints: []\n', ['1:12 endpoints'], /found an empty list; expected at least one static endpoint/],
  [
    'an objective naming a model no endpoint serves',
    `${ENDPOINTS}objectives:\n  feed: { model: recommend }\n`,
    ['5:18 objectives.feed.model'],
    /found model 'recommend'; expected a model some static endpoint serves \(ranker, scorer\): the balancer runs without --discovery/,
  ],
  [
    'a configured model no endpoint serves',
    `${ENDPOINTS}models:\n  rankr: { picker: round_robin }\n`,
    ['5:3 models.rankr'],
    /found model 'rankr'/,
  ],
  [
    'every unserved route at once, in file order',
    `${ENDPOINTS}models: { a: {} }\nobjectives: { o: { model: b } }\n`,
    ['4:11 models.a', '5:27 objectives.o.model'],
    /model 'a'[\s\S]*model 'b'/,
  ],
];

test('without discovery: endpoints are required and routes must name a model they serve', () => {
  for (const [name, yaml, issues, want] of CASES) {
    const run = () => parseRoutingConfig(yaml, 'routing.yaml', { withoutDiscovery: true });
    if (issues.length === 0) {
      assert.doesNotThrow(run, name);
      continue;
    }
    assert.throws(
      run,
      (err: unknown) => {
        assert.ok(err instanceof ConfigError, name);
        assert.deepEqual(
          err.issues.map((i) => `${i.line}:${i.col} ${i.path}`),
          issues,
          `${name}:\n${err.message}`,
        );
        assert.match(err.message, want!, name);
        return true;
      },
      name,
    );
  }
});

test('with discovery the same files parse: discovery may list the models', () => {
  for (const [name, yaml] of CASES) assert.doesNotThrow(() => parseRoutingConfig(yaml, 'routing.yaml'), name);
});

test('static endpoints keep their shape: address, zone, weight and each model with its versions', () => {
  const cfg = parseRoutingConfig(
    'endpoints:\n  - { address: "h:1", zone: z, weight: 3, models: { ranker: [2, 1], embed: [] } }\n',
    'routing.yaml',
    { withoutDiscovery: true },
  );
  assert.deepEqual(cfg.endpoints, [
    {
      address: 'h:1',
      zone: 'z',
      weight: 3,
      models: [
        { name: 'ranker', versions: ['2', '1'] },
        { name: 'embed', versions: [] },
      ],
    },
  ]);
});
