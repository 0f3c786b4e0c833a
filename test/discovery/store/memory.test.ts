// The in-memory store on a fake clock: leases, one revision per write,
// rebinding, and resuming watches from its history. Also the pure
// record → cluster-change functions the hub builds on.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { seededRandom } from '../../../common/clock';
import { coalesce, diffRecord } from '../../../discovery/cluster-changes';
import { loadMoved } from '../../../discovery/server/load-change';
import type { StoreEvent } from '../../../discovery/store/store';
import { MemoryStore } from '../../../discovery/store/memory';
import { NO_LOAD, type EndpointRecord } from '../../../discovery/types';
import { FakeClock } from '../../helpers/fake-clock';

const rec = (id: string, models = ['ranker'], over: Partial<EndpointRecord> = {}): EndpointRecord => ({
  id,
  address: `${id}:8001`,
  zone: 'z',
  labels: {},
  models: models.map((name) => ({ name, versions: ['1'] })),
  weight: 1,
  capacity: 0,
  priority: 0,
  health: 'HEALTHY',
  load: NO_LOAD,
  ...over,
});

const tick = () => new Promise((r) => setImmediate(r));

function recorder(store: MemoryStore, after: number) {
  const events: StoreEvent[] = [];
  const resets: string[] = [];
  const w = store.watch(after, { onEvents: (e) => events.push(...e), onReset: (r) => resets.push(r) });
  return { events, resets, cancel: () => w.cancel() };
}

test('a lease expires ttl after its last keepalive, deleting its records in one revision', async () => {
  const clock = new FakeClock();
  const store = new MemoryStore({ clock, random: seededRandom(1) });
  const { lease } = await store.grantLease(1000);
  await store.put(rec('a'), lease);
  await store.put(rec('b'), lease);
  const w = recorder(store, 2);
  await tick();
  clock.advance(900);
  assert.equal(await store.keepAlive(lease), 1000);
  clock.advance(900);
  assert.equal((await store.list()).records.length, 2, 'kept alive at 900 ms: still there at 1800 ms');
  clock.advance(101);
  assert.equal((await store.list()).records.length, 0);
  assert.equal(await store.keepAlive(lease), null, 'expired lease is unknown');
  assert.equal(await store.put(rec('c'), lease), null, 'cannot write under an expired lease');
  assert.deepEqual(
    w.events.map((e) => [e.revision, e.type, e.id]),
    [
      [3, 'delete', 'a'],
      [3, 'delete', 'b'],
    ],
  );
  assert.equal(store.leaseCount(), 0);
});

test('put under a new lease rebinds the record: revoking the old lease leaves it', async () => {
  const store = new MemoryStore({ clock: new FakeClock() });
  const old = (await store.grantLease(1000)).lease;
  const fresh = (await store.grantLease(1000)).lease;
  await store.put(rec('a'), old);
  await store.put(rec('a', ['ranker'], { weight: 5 }), fresh);
  await store.revokeLease(old);
  const got = await store.get('a');
  assert.equal(got?.lease, fresh);
  assert.equal(got?.record.weight, 5);
  await store.revokeLease(fresh);
  assert.equal(await store.get('a'), undefined);
  assert.equal(await store.delete('a'), null);
});

test('watch replays history after a revision, then follows live writes', async () => {
  const store = new MemoryStore({ clock: new FakeClock() });
  const { lease } = await store.grantLease(1000);
  for (const id of ['a', 'b', 'c']) await store.put(rec(id), lease);
  const w = recorder(store, 1);
  await tick();
  assert.deepEqual(
    w.events.map((e) => e.id),
    ['b', 'c'],
  );
  await store.delete('a');
  assert.deepEqual(
    w.events.map((e) => `${e.revision}:${e.type}:${e.id}`),
    ['2:put:b', '3:put:c', '4:delete:a'],
  );
  w.cancel();
  await store.delete('b');
  assert.equal(w.events.length, 3, 'no events after cancel');
});

test('a watch from before the kept history, or from the future, is reset', async () => {
  const store = new MemoryStore({ clock: new FakeClock(), historySize: 4 });
  const { lease } = await store.grantLease(1000);
  for (let i = 0; i < 10; i++) await store.put(rec(`e${i}`), lease);
  const old = recorder(store, 1);
  const future = recorder(store, 99);
  const ok = recorder(store, 8);
  await tick();
  assert.equal(old.resets.length, 1);
  assert.equal(future.resets.length, 1);
  assert.deepEqual(ok.resets, []);
  assert.deepEqual(
    ok.events.map((e) => e.id),
    ['e8', 'e9'],
  );
});

test('every store instance is its own epoch', () => {
  assert.notEqual(new MemoryStore({ random: seededRandom(1) }).epoch, new MemoryStore({ random: seededRandom(2) }).epoch);
});

test('diffRecord: one change per cluster the endpoint enters, leaves or changes in', () => {
  const before = rec('a', ['ranker', 'recommend']);
  const after = rec('a', ['recommend', 'embed'], { health: 'DRAINING' });
  const changes = diffRecord(before, after).map((c) => `${c.type}:${c.cluster}`);
  assert.deepEqual(changes, ['REMOVE:ranker', 'UPDATE:recommend', 'INSERT:embed']);
  assert.deepEqual(diffRecord(before, before), []);
  assert.deepEqual(
    diffRecord(undefined, before).map((c) => c.type),
    ['INSERT', 'INSERT'],
  );
});

test('coalesce keeps the net change per endpoint', () => {
  const ep = (id: string, weight = 1) => ({ ...diffRecord(undefined, rec(id, ['m'], { weight }))[0].endpoint });
  const cases: [string, ('INSERT' | 'UPDATE' | 'REMOVE')[], string][] = [
    ['insert then update', ['INSERT', 'UPDATE'], 'INSERT'],
    ['insert then remove', ['INSERT', 'REMOVE'], ''],
    ['update then remove', ['UPDATE', 'REMOVE'], 'REMOVE'],
    ['remove then insert', ['REMOVE', 'INSERT'], 'UPDATE'],
    ['update twice', ['UPDATE', 'UPDATE'], 'UPDATE'],
  ];
  for (const [name, types, want] of cases) {
    const out = coalesce(types.map((type, i) => ({ type, cluster: 'm', endpoint: ep('a', i + 1) })));
    assert.equal(out.map((c) => c.type).join(), want, name);
    if (want && want !== 'REMOVE') assert.equal(out[0].endpoint.weight, types.length, `${name}: carries the latest endpoint`);
  }
});

test('loadMoved: small wobbles wait for the refresh interval, real moves go at once', () => {
  const l = (queueDepth: number, inFlight: number, latencyMs: number) => ({ queueDepth, inFlight, latencyMs });
  assert.equal(loadMoved(l(10, 10, 5), l(10, 10, 5), true), false, 'identical: never');
  assert.equal(loadMoved(l(10, 10, 5), l(11, 10, 5), false), false, '+1 queued: not yet');
  assert.equal(loadMoved(l(10, 10, 5), l(11, 10, 5), true), true, '+1 queued, stale: yes');
  assert.equal(loadMoved(l(10, 10, 5), l(20, 10, 5), false), true, 'queue doubled');
  assert.equal(loadMoved(l(0, 0, 5), l(0, 0, 9), false), true, 'latency +80 %');
  assert.equal(loadMoved(l(0, 0, 0.2), l(0, 0, 0.9), false), false, 'sub-millisecond latency noise');
});
