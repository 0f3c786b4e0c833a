import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { ConfigError } from '../../common/config-check';
import { DEFAULT_POLICY } from '../../routing-config/policy';
import { decodePushedConfig, effectivePolicy, parseRoutingConfig, resolveModel, resolveObjective } from '../../routing-config/parse';
import type { RoutingPolicy } from '../../routing-config/types';

/** dist/test/routing-config/… → the repository's examples/. */
const EXAMPLE = resolve(__dirname, '../../../examples/routing.yaml');
const parse = (text: string) => parseRoutingConfig(text, 'routing.yaml');

test('the example file uses every section and parses', () => {
  const text = readFileSync(EXAMPLE, 'utf8');
  const cfg = parseRoutingConfig(text, EXAMPLE);
  for (const key of [
    'defaults:',
    'models:',
    'objectives:',
    'endpoints:',
    'endpoint_overrides:',
    'split:',
    'shadow:',
    'shard:',
    'p2c:',
    'estimator:',
    'latency:',
    'peak_ewma:',
    'zone_affinity:',
    'outlier_detection:',
    'circuit_breaker:',
    'retry:',
    'hedge_delay_ms:',
    'picker:',
    'stream_routing:',
  ]) {
    assert.ok(text.includes(key), `example shows ${key}`);
  }
  // The example's defaults section spells out the built-in defaults.
  assert.deepEqual(cfg.defaults, DEFAULT_POLICY);
  const ranker = resolveModel(cfg, 'ranker');
  assert.deepEqual(ranker.split, [
    { version: '1', weight: 95 },
    { version: '2', weight: 5 },
  ]);
  assert.deepEqual(ranker.shadow, { version: '3', percent: 10 });
  assert.deepEqual(ranker.policy.shard, { from: 'header', key: 'x-tenant-id', subset_size: 3 });
  assert.deepEqual(cfg.endpoints[1], {
    address: 'gpu-7.internal:8001',
    zone: 'us-east-1b',
    weight: 1,
    models: [
      { name: 'ranker', versions: ['1', '2'] },
      { name: 'embed', versions: [] },
    ],
  });
  assert.deepEqual(cfg.endpoint_overrides, { '10.0.1.21:8001': { drain: true }, 'gpu-7.internal:8001': { weight: 3, drain: false } });
});

test('an empty config is all defaults', () => {
  assert.deepEqual(parse('{}\n'), { defaults: DEFAULT_POLICY, models: {}, objectives: {}, endpoints: [], endpoint_overrides: {} });
});

/** [what, YAML, the expected policy of model m: built-in defaults with these changes]. */
const MERGES: [string, string, (d: RoutingPolicy) => RoutingPolicy][] = [
  ['model unset: defaults', 'defaults: { picker: round_robin }\n', (d) => ({ ...d, picker: 'round_robin' })],
  [
    'stream routing per model',
    'defaults: { stream_routing: per_stream }\nmodels: { m: { picker: least_request } }\n',
    (d) => ({ ...d, picker: 'least_request', stream_routing: 'per_stream' }),
  ],
  [
    'model changes one field of a section',
    'defaults: { p2c: { choice_count: 3 } }\nmodels: { m: { p2c: { in_flight_weight: 0 } } }\n',
    (d) => ({ ...d, p2c: { ...d.p2c, choice_count: 3, in_flight_weight: 0 } }),
  ],
  [
    'nested section merges too',
    'models: { m: { p2c: { peak_ewma: { decay_ms: 5000 } } } }\n',
    (d) => ({ ...d, p2c: { ...d.p2c, peak_ewma: { ...d.p2c.peak_ewma, decay_ms: 5000 } } }),
  ],
  [
    'model overrides a default',
    'defaults: { retry: { max_retries: 1 } }\nmodels: { m: { retry: { max_retries: 4, budget_percent: 50 } } }\n',
    (d) => ({ ...d, retry: { ...d.retry, max_retries: 4, budget_percent: 50 } }),
  ],
  [
    'shard inherited, subset changed',
    'defaults: { shard: { parameter: tenant } }\nmodels: { m: { shard: { subset_size: 5 } } }\n',
    (d) => ({ ...d, shard: { from: 'parameter', key: 'tenant', subset_size: 5 } }),
  ],
  ['shard: false turns a default off', 'defaults: { shard: { header: X-Tenant } }\nmodels: { m: { shard: false } }\n', (d) => d],
  [
    'header lowercased',
    'models: { m: { shard: { header: X-Tenant, subset_size: 1 } } }\n',
    (d) => ({ ...d, shard: { from: 'header', key: 'x-tenant', subset_size: 1 } }),
  ],
  [
    'other sections untouched',
    'defaults: { outlier_detection: { max_ejection_percent: 50 }, circuit_breaker: { max_in_flight: 10 } }\nmodels: { m: { picker: least_request } }\n',
    (d) => ({
      ...d,
      picker: 'least_request',
      outlier_detection: { ...d.outlier_detection, max_ejection_percent: 50 },
      circuit_breaker: { max_in_flight: 10 },
    }),
  ],
];

test('defaults merge field by field under each model', () => {
  for (const [what, text, want] of MERGES) {
    const cfg = parse(text);
    assert.deepEqual(effectivePolicy(cfg, 'm'), want(DEFAULT_POLICY), what);
  }
});

test('objectives resolve to model, version or split, shadow and policy', () => {
  const cfg = parseRoutingConfig(readFileSync(EXAMPLE, 'utf8'), EXAMPLE);
  const ranker = resolveModel(cfg, 'ranker');
  // Inherits everything from its model.
  assert.deepEqual(resolveObjective(cfg, 'search-ranking'), ranker);
  // Pinned version replaces the split; shadow: false drops the inherited shadow.
  assert.deepEqual(resolveObjective(cfg, 'homepage-ranking'), { model: 'ranker', version: '2', policy: ranker.policy });
  const feed = resolveObjective(cfg, 'feed');
  const recommend = effectivePolicy(cfg, 'recommend');
  assert.deepEqual(feed, {
    model: 'recommend',
    split: [
      { version: '1', weight: 50 },
      { version: '2', weight: 50 },
    ],
    policy: { ...recommend, retry: { ...recommend.retry, max_retries: 1 } },
  });
  assert.equal(recommend.picker, 'least_request');
  // A model nobody configured: defaults; objectives may name one.
  assert.deepEqual(resolveModel(cfg, 'other'), { model: 'other', policy: cfg.defaults });
  const own = parse('objectives: { o: { model: unlisted, version: 3, retry: { hedge_delay_ms: 20 } } }\n');
  assert.deepEqual(resolveObjective(own, 'o'), {
    model: 'unlisted',
    version: '3',
    policy: { ...DEFAULT_POLICY, retry: { ...DEFAULT_POLICY.retry, hedge_delay_ms: 20 } },
  });
  for (const name of ['absent', 'constructor', 'toString']) assert.equal(resolveObjective(cfg, name), undefined, name);
  assert.deepEqual(effectivePolicy(cfg, 'constructor'), cfg.defaults, 'names never hit Object.prototype');
  assert.equal(Object.getPrototypeOf(parse('models: { __proto__: { picker: round_robin } }\n').models), Object.prototype);
  assert.equal(resolveModel(parse('models: { __proto__: { picker: round_robin } }\n'), '__proto__').policy.picker, 'round_robin');
});

test('pickers are checked against the names passed in', () => {
  const text = 'defaults: { picker: weighted_random }\n';
  assert.throws(() => parse(text), /defaults\.picker: found "weighted_random"; expected one of p2c, round_robin, least_request/);
  assert.equal(parseRoutingConfig(text, 'r.yaml', { pickers: ['p2c', 'weighted_random'] }).defaults.picker, 'weighted_random');
});

/** [name, YAML, the one expected issue as `line:col path`, a pattern for its message]. */
const BAD: [string, string, string, RegExp][] = [
  ['unknown top key', 'model: {}\n', '1:1 model', /unknown field; expected a known field \(did you mean models\?\)/],
  [
    'picker typo',
    'defaults: { picker: p2d }\n',
    '1:21 defaults.picker',
    /found "p2d"; expected one of p2c, round_robin, least_request \(did you mean p2c\?\)/,
  ],
  [
    'stream routing typo',
    'defaults: { stream_routing: per_request }\n',
    '1:29 defaults.stream_routing',
    /found "per_request"; expected one of per_message, per_stream/,
  ],
  ['choice count 1', 'defaults: { p2c: { choice_count: 1 } }\n', '1:34 defaults.p2c.choice_count', /found 1; expected an integer >= 2/],
  ['negative weight', 'defaults: { p2c: { in_flight_weight: -1 } }\n', '1:38 defaults.p2c.in_flight_weight', /expected a number >= 0/],
  [
    'no load signal',
    'models:\n  m:\n    p2c: { in_flight_weight: 0, queue_depth_weight: 0, estimator: none }\n',
    '3:10 models.m.p2c',
    /found no load signal; expected at least one load signal/,
  ],
  [
    'unknown estimator',
    'defaults: { p2c: { estimator: ewma } }\n',
    '1:31 defaults.p2c.estimator',
    /found "ewma"; expected one of latency, peak_ewma, none/,
  ],
  [
    'rise weight above 1',
    'defaults: { p2c: { latency: { rise_weight: 1.5 } } }\n',
    '1:44 defaults.p2c.latency.rise_weight',
    /expected a weight > 0 and <= 1/,
  ],
  [
    'failure factor below 1',
    'defaults: { p2c: { latency: { failure_factor: 0.5 } } }\n',
    '1:47 defaults.p2c.latency.failure_factor',
    /expected a number >= 1/,
  ],
  [
    'the removed peak_ewma.enabled names its fields',
    'defaults: { p2c: { peak_ewma: { enabled: false } } }\n',
    '1:33 defaults.p2c.peak_ewma.enabled',
    /unknown field; expected one of the fields initial_rtt_ms, decay_ms/,
  ],
  [
    'ewma decay zero',
    'defaults: { p2c: { peak_ewma: { decay_ms: 0 } } }\n',
    '1:43 defaults.p2c.peak_ewma.decay_ms',
    /found 0; expected a number > 0/,
  ],
  [
    'staleness zero',
    'defaults: { p2c: { queue_depth_max_age_ms: 0 } }\n',
    '1:44 defaults.p2c.queue_depth_max_age_ms',
    /expected an integer >= 1/,
  ],
  [
    'spillover negative',
    'defaults: { zone_affinity: { spillover_in_flight: -2 } }\n',
    '1:51 defaults.zone_affinity.spillover_in_flight',
    /expected a number >= 0/,
  ],
  [
    'zone enabled string',
    'defaults: { zone_affinity: { enabled: "yes" } }\n',
    '1:39 defaults.zone_affinity.enabled',
    /found "yes"; expected true or false/,
  ],
  [
    'shard without source',
    'models: { m: { shard: { subset_size: 2 } } }\n',
    '1:23 models.m.shard.header',
    /field missing\); expected a header or a parameter/,
  ],
  [
    'shard both sources',
    'models: { m: { shard: { header: a, parameter: b } } }\n',
    '1:47 models.m.shard.parameter',
    /found both header and parameter; expected only one/,
  ],
  ['shard bad header', 'models: { m: { shard: { header: "x tenant" } } }\n', '1:33 models.m.shard.header', /expected a metadata key/],
  [
    'shard subset zero',
    'models: { m: { shard: { header: t, subset_size: 0 } } }\n',
    '1:49 models.m.shard.subset_size',
    /expected an integer >= 1/,
  ],
  [
    'ejection percent',
    'defaults: { outlier_detection: { max_ejection_percent: 120 } }\n',
    '1:56 defaults.outlier_detection.max_ejection_percent',
    /found 120; expected a number from 0 to 100/,
  ],
  [
    'panic percent',
    'defaults: { outlier_detection: { panic_threshold_percent: -1 } }\n',
    '1:59 defaults.outlier_detection.panic_threshold_percent',
    /expected a number from 0 to 100/,
  ],
  [
    'base above max ejection',
    'models: { m: { outlier_detection: { base_ejection_ms: 400000 } } }\n',
    '1:55 models.m.outlier_detection.base_ejection_ms',
    /found base_ejection_ms 400000 above max_ejection_ms 300000/,
  ],
  [
    'breaker zero',
    'defaults: { circuit_breaker: { max_in_flight: 0 } }\n',
    '1:47 defaults.circuit_breaker.max_in_flight',
    /expected an integer >= 1/,
  ],
  [
    'budget percent',
    'defaults: { retry: { budget_percent: 101 } }\n',
    '1:38 defaults.retry.budget_percent',
    /expected a number from 0 to 100/,
  ],
  [
    'unknown status',
    'defaults: { retry: { retryable_statuses: [UNAVAILABLE, UNAVAILBLE] } }\n',
    '1:56 defaults.retry.retryable_statuses[1]',
    /found "UNAVAILBLE"; .*did you mean UNAVAILABLE\?/,
  ],
  ['status OK', 'defaults: { retry: { retryable_statuses: [OK] } }\n', '1:43 defaults.retry.retryable_statuses[0]', /found "OK"/],
  [
    'status twice',
    'defaults: { retry: { retryable_statuses: [INTERNAL, INTERNAL] } }\n',
    '1:53 defaults.retry.retryable_statuses[1]',
    /found "INTERNAL" again/,
  ],
  [
    'hedge without retries',
    'defaults: { retry: { max_retries: 0, hedge_delay_ms: 10 } }\n',
    '1:54 defaults.retry.hedge_delay_ms',
    /expected max_retries >= 1 when hedging/,
  ],
  [
    'hedge after per-try timeout',
    'models: { m: { retry: { per_try_timeout_ms: 50, hedge_delay_ms: 50 } } }\n',
    '1:65 models.m.retry.hedge_delay_ms',
    /expected hedge_delay_ms below per_try_timeout_ms \(50\)/,
  ],
  [
    'per-try negative',
    'defaults: { retry: { per_try_timeout_ms: -5 } }\n',
    '1:42 defaults.retry.per_try_timeout_ms',
    /expected an integer >= 0/,
  ],
  ['policy in defaults typo', 'defaults: { retyr: {} }\n', '1:13 defaults.retyr', /did you mean retry\?/],
  ['split in defaults', 'defaults: { split: { "1": 1 } }\n', '1:13 defaults.split', /unknown field/],
  ['model null', 'models:\n  ranker:\n', '2:10 models.ranker', /found an empty value; expected a mapping \(write \{\} for all defaults\)/],
  ['models a list', 'models: [ranker]\n', '1:9 models', /found a list; expected a mapping of model names/],
  [
    'split weight fraction',
    'models: { m: { split: { "1": 0.5, "2": 1 } } }\n',
    '1:30 models.m.split.1',
    /found 0\.5; expected an integer >= 0/,
  ],
  ['split weight negative', 'models: { m: { split: { "1": -1 } } }\n', '1:30 models.m.split.1', /expected an integer >= 0/],
  [
    'split sums to zero',
    'models: { m: { split: { "1": 0, "2": 0 } } }\n',
    '1:23 models.m.split',
    /found weights summing to 0; expected weights summing to more than 0/,
  ],
  ['split empty', 'models: { m: { split: {} } }\n', '1:23 models.m.split', /found an empty mapping; expected at least one version/],
  [
    'split bad version',
    'models: { m: { split: { v1: 100 } } }\n',
    '1:25 models.m.split.v1',
    /found "v1"; expected a positive integer version/,
  ],
  [
    'split version twice',
    'models: { m: { split: { 1: 50, "1": 50 } } }\n',
    '1:32 models.m.split.1',
    /found version 1 again; expected each version once/,
  ],
  [
    'shadow percent',
    'models: { m: { shadow: { version: 2, percent: 150 } } }\n',
    '1:47 models.m.shadow.percent',
    /found 150; expected a number from 0 to 100/,
  ],
  ['shadow no version', 'models: { m: { shadow: { percent: 5 } } }\n', '1:24 models.m.shadow.version', /field missing/],
  [
    'shadow targets a live version',
    'models: { m: { split: { "1": 90, "2": 10 }, shadow: { version: 2, percent: 5 } } }\n',
    '1:53 models.m.shadow',
    /found shadow version 2; expected a shadow version other than those receiving live calls \(1, 2\)/,
  ],
  [
    'objective without model',
    'objectives: { o: { version: 1 } }\n',
    '1:18 objectives.o.model',
    /field missing\); expected a non-empty string/,
  ],
  ['objective empty model', 'objectives: { o: { model: "" } }\n', '1:27 objectives.o.model', /found ""; expected a non-empty string/],
  [
    'objective version and split',
    'objectives: { o: { model: m, version: 1, split: { "1": 1 } } }\n',
    '1:49 objectives.o.split',
    /found both version and split/,
  ],
  [
    'objective pins the shadow target',
    'models: { m: { shadow: { version: 3, percent: 1 } } }\nobjectives: { o: { model: m, version: 3 } }\n',
    '2:39 objectives.o.version',
    /found shadow version 3; expected a shadow version other than those receiving live calls \(3\)/,
  ],
  [
    'objective sets cluster state',
    'objectives: { o: { model: m, outlier_detection: {} } }\n',
    '1:30 objectives.o.outlier_detection',
    /unknown field/,
  ],
  [
    'endpoint without port',
    'endpoints: [{ address: 10.0.0.1, models: { m: [1] } }]\n',
    '1:24 endpoints[0].address',
    /found "10\.0\.0\.1"; expected host:port/,
  ],
  ['endpoint port too big', 'endpoints: [{ address: "h:70000", models: { m: [1] } }]\n', '1:24 endpoints[0].address', /expected host:port/],
  [
    'endpoint ipv6 unbracketed',
    'endpoints: [{ address: "::1:8001", models: { m: [1] } }]\n',
    '1:24 endpoints[0].address',
    /expected host:port/,
  ],
  [
    'endpoint twice',
    'endpoints:\n  - { address: "h:1", models: { m: [] } }\n  - { address: "h:1", models: { m: [] } }\n',
    '3:16 endpoints[1].address',
    /found "h:1" again; expected each address once/,
  ],
  [
    'endpoint weight zero',
    'endpoints: [{ address: "h:1", weight: 0, models: { m: [] } }]\n',
    '1:39 endpoints[0].weight',
    /found 0; expected an integer >= 1/,
  ],
  [
    'endpoint weight fraction',
    'endpoints: [{ address: "h:1", weight: 0.5, models: { m: [] } }]\n',
    '1:39 endpoints[0].weight',
    /found 0\.5; expected an integer >= 1/,
  ],
  [
    'endpoint without models',
    'endpoints: [{ address: "h:1" }]\n',
    '1:13 endpoints[0].models',
    /field missing\); expected a mapping of the models it serves/,
  ],
  [
    'endpoint bad version',
    'endpoints: [{ address: "h:1", models: { m: [1, 0] } }]\n',
    '1:48 endpoints[0].models.m[1]',
    /found 0; expected a positive integer version/,
  ],
  [
    'endpoint zone empty',
    'endpoints: [{ address: "h:1", zone: "", models: { m: [] } }]\n',
    '1:37 endpoints[0].zone',
    /expected a non-empty string/,
  ],
  ['override bad address', 'endpoint_overrides: { "h": { drain: true } }\n', '1:23 endpoint_overrides.h', /found "h"; expected host:port/],
  [
    'override drain string',
    'endpoint_overrides: { "h:1": { drain: "yes" } }\n',
    '1:39 endpoint_overrides.h:1.drain',
    /expected true or false/,
  ],
  ['override weight', 'endpoint_overrides: { "h:1": { weight: -1 } }\n', '1:40 endpoint_overrides.h:1.weight', /expected an integer >= 1/],
  ['empty document (no position to name)', '', 'undefined:undefined ', /found an empty document; expected a mapping/],
  ['model named twice', 'models: { 1: {}, "1": {} }\n', '1:18 models.1', /found 1 again; expected each name once/],
  ['section written twice', 'models: {}\nmodels: {}\n', '2:1 ', /found invalid YAML \(Map keys must be unique\)/],
];

test('each bad config yields one issue naming the file, field and line', () => {
  for (const [name, text, where, want] of BAD) {
    assert.throws(
      () => parse(text),
      (err: unknown) => {
        assert.ok(err instanceof ConfigError, name);
        assert.deepEqual(
          err.issues.map((i) => `${i.line}:${i.col} ${i.path}`),
          [where],
          `${name}:\n${err.message}`,
        );
        assert.equal(err.issues[0].file, 'routing.yaml', name);
        assert.match(err.message, want, name);
        return true;
      },
      name,
    );
  }
});

test('all problems in a file are reported together, in file order', () => {
  const text =
    'defaults:\n  picker: fastest\nmodels:\n  m:\n    split: { "1": -1 }\nendpoints:\n  - { address: nowhere, models: { m: [] } }\n';
  assert.throws(
    () => parse(text),
    (err: unknown) => {
      assert.ok(err instanceof ConfigError);
      assert.deepEqual(
        err.issues.map((i) => `${i.line} ${i.path}`),
        ['2 defaults.picker', '5 models.m.split.1', '7 endpoints[0].address'],
      );
      return true;
    },
  );
});

test('decodePushedConfig: version 0 means none, JSON is applied, bad JSON keeps the previous config with one log line', () => {
  const lines: string[] = [];
  const log = { info: () => undefined, warn: () => undefined, error: (m: string) => void lines.push(m) };
  const table: Array<{ name: string; push: { version: number; json: string }; want: unknown }> = [
    { name: 'none', push: { version: 0, json: '' }, want: { config: undefined } },
    { name: 'empty json', push: { version: 3, json: '' }, want: { config: undefined } },
    { name: 'a config', push: { version: 4, json: '{"models":{}}' }, want: { config: { models: {} } } },
    { name: 'not json', push: { version: 5, json: '{models' }, want: undefined },
  ];
  for (const c of table) assert.deepEqual(decodePushedConfig(c.push, log), c.want, c.name);
  assert.equal(lines.length, 1);
});
