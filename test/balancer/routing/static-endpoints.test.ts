// The balancer's own static endpoints as endpoint changes: each config
// version's list against the last, so a reload moves only what changed.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { parseRoutingConfig } from '../../../routing-config/parse';
import { StaticEndpoints, staticView } from '../../../balancer/routing/static-endpoints';

const endpointsOf = (yaml: string) => parseRoutingConfig(yaml, 'routing.yaml', { withoutDiscovery: true }).endpoints;

test('a static endpoint appears in each model it serves, HEALTHY, under an id discovery never hands out', () => {
  const view = staticView(endpointsOf('endpoints: [{ address: "h:1", zone: z, weight: 2, models: { a: [1], b: [] } }]\n'));
  assert.deepEqual([...view.keys()], ['a', 'b']);
  const a = view.get('a')!.get('static:h:1')!;
  assert.deepEqual(
    { id: a.id, address: a.address, zone: a.zone, weight: a.weight, health: a.health, versions: a.versions },
    { id: 'static:h:1', address: 'h:1', zone: 'z', weight: 2, health: 'HEALTHY', versions: ['1'] },
  );
  assert.deepEqual(view.get('b')!.get('static:h:1')!.versions, []);
});

test('reloads yield only the changes: added, re-weighted, a model dropped, an endpoint removed', () => {
  const s = new StaticEndpoints();
  const steps: Array<[yaml: string, changes: string[]]> = [
    [
      'endpoints:\n  - { address: "h:1", models: { a: [1], b: [] } }\n  - { address: "h:2", models: { a: [1] } }\n',
      ['INSERT a static:h:1', 'INSERT a static:h:2', 'INSERT b static:h:1'],
    ],
    ['endpoints:\n  - { address: "h:1", models: { a: [1], b: [] } }\n  - { address: "h:2", models: { a: [1] } }\n', []],
    [
      'endpoints:\n  - { address: "h:1", weight: 3, models: { a: [1] } }\n  - { address: "h:2", models: { a: [1] } }\n',
      ['REMOVE b static:h:1', 'UPDATE a static:h:1'],
    ],
    ['endpoints:\n  - { address: "h:2", models: { a: [1, 2] } }\n', ['REMOVE a static:h:1', 'UPDATE a static:h:2']],
  ];
  for (const [yaml, want] of steps) {
    const got = s.changes(endpointsOf(yaml)).map((c) => `${c.type} ${c.cluster} ${c.endpoint.id}`);
    assert.deepEqual(got, want, yaml);
  }
  assert.equal(s.size, 1);
  assert.deepEqual(
    s.changes([]).map((c) => `${c.type} ${c.cluster} ${c.endpoint.id}`),
    ['REMOVE a static:h:2'],
  );
});
