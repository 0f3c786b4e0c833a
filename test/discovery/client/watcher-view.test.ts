// applyWatchResponse across a discovery restart: a partial snapshot (the
// server warming up) is merged into the view, never shrinking it, and a
// partial REMOVE keeps the endpoint too; what was kept stays until discovery
// names it again or the first message that is not partial, which removes
// what nobody re-registered. A complete snapshot still replaces the view.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { applyWatchResponse, EMPTY_VIEW, type DiscoveryView } from '../../../discovery/client/watcher-view';
import type { WatchResponse__Output } from '../../../proto/gen/infergate/discovery/v1/WatchResponse';
import type { LbEndpoint__Output } from '../../../proto/gen/infergate/discovery/v1/LbEndpoint';

const ep = (id: string, weight = 1): LbEndpoint__Output => ({
  id,
  address: id,
  zone: 'a',
  weight,
  priority: 0,
  health: 'HEALTHY',
  versions: ['1'],
  labels: {},
  load: null,
  capacity: 0,
});

const snapshot = (partial: boolean, ...eps: LbEndpoint__Output[]): WatchResponse__Output => ({
  epoch: 'e2',
  version: 1000,
  snapshot: true,
  clusters: [{ cluster_name: 'ranker', endpoints: eps }],
  changes: [],
  config: null,
  partial,
});

const delta = (partial: boolean, ...changes: Array<['INSERT' | 'UPDATE' | 'REMOVE', LbEndpoint__Output]>): WatchResponse__Output => ({
  epoch: 'e2',
  version: 2000,
  snapshot: false,
  clusters: [],
  changes: changes.map(([type, e]) => ({ type, cluster_name: 'ranker', endpoint: e })),
  config: null,
  partial,
});

/** A view holding a, b and c, as a balancer had it before discovery restarted. */
const before = (): DiscoveryView => applyWatchResponse(EMPTY_VIEW, { ...snapshot(false, ep('a'), ep('b'), ep('c')), epoch: 'e1' }).view;

const idsOf = (v: DiscoveryView) => [...(v.clusters.get('ranker')?.keys() ?? [])].sort();

test('a partial snapshot, then deltas, then the end of the warm-up: the view shrinks only by who never came back', () => {
  const table: Array<{ name: string; steps: WatchResponse__Output[]; ids: string[]; changes: string[] }> = [
    { name: 'partial snapshot with one endpoint', steps: [snapshot(true, ep('b', 4))], ids: ['a', 'b', 'c'], changes: ['UPDATE:b'] },
    { name: 'empty partial snapshot', steps: [snapshot(true)], ids: ['a', 'b', 'c'], changes: [] },
    {
      name: 're-registrations during the warm-up, then its end',
      steps: [snapshot(true, ep('b')), delta(true, ['INSERT', ep('a')]), delta(false)],
      ids: ['a', 'b'],
      changes: ['REMOVE:c'],
    },
    {
      name: 'a REMOVE during the warm-up keeps the endpoint until its end',
      steps: [snapshot(true, ep('a'), ep('c')), delta(true, ['REMOVE', ep('c')])],
      ids: ['a', 'b', 'c'],
      changes: [],
    },
    {
      name: '... and the end of the warm-up removes it',
      steps: [snapshot(true, ep('a'), ep('c')), delta(true, ['REMOVE', ep('c')]), delta(false, ['INSERT', ep('b')])],
      ids: ['a', 'b'],
      changes: ['REMOVE:c'],
    },
    {
      name: "a second restart within the warm-up keeps everything until the second one's warm-up ends",
      steps: [snapshot(true, ep('a')), snapshot(true, ep('c')), delta(false, ['INSERT', ep('b')])],
      ids: ['b', 'c'],
      changes: ['REMOVE:a'],
    },
    { name: 'a complete snapshot replaces the view', steps: [snapshot(false, ep('b'))], ids: ['b'], changes: ['REMOVE:a', 'REMOVE:c'] },
  ];
  for (const row of table) {
    let view = before();
    let last: string[] = [];
    for (const msg of row.steps) {
      const applied = applyWatchResponse(view, msg);
      view = applied.view;
      last = applied.changes.map((c) => `${c.type}:${c.endpoint.id}`).sort();
    }
    assert.deepEqual(idsOf(view), row.ids, row.name);
    assert.deepEqual(last, row.changes, `${row.name}: changes of the last message`);
  }
});

test('the unconfirmed set is empty again once the server is complete', () => {
  let v = applyWatchResponse(before(), snapshot(true, ep('a'))).view;
  assert.equal(v.unconfirmed.size, 2);
  v = applyWatchResponse(v, delta(false)).view;
  assert.equal(v.unconfirmed.size, 0);
  assert.deepEqual(idsOf(v), ['a']);
});
