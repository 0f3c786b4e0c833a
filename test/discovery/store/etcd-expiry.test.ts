// The etcd store's own lease expiry, against a real etcd but with each
// replica's timers on a fake clock: time moves only when a test advances it,
// so the replica's decision is observed without racing etcd's lessor. Every
// lease here is 10 s in etcd and the tests take well under a second of real
// time, so any lease that disappears was revoked by a replica's timer.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { Etcd3 } from 'etcd3';
import { silentLogger } from '../../../common/log';
import { EtcdStore } from '../../../discovery/store/etcd';
import { EXPIRY_GRACE_MS } from '../../../discovery/store/etcd-expiry';
import type { StoreEvent } from '../../../discovery/store/store';
import { NO_LOAD, type EndpointRecord } from '../../../discovery/types';
import { waitFor } from '../../helpers/discovery-fixture';
import { etcdMissing, startEtcd, type EtcdProcess } from '../../../testkit/etcd-process';
import { FakeClock } from '../../helpers/fake-clock';

const skip = etcdMissing();
const TTL = 10_000;
let etcd: EtcdProcess;
let raw: Etcd3;
let n = 0;

before(async () => {
  if (skip) return;
  etcd = await startEtcd();
  raw = new Etcd3({ hosts: [etcd.url] });
});

after(async () => {
  if (skip) return;
  raw.close();
  await etcd.stop();
});

const rec = (id: string): EndpointRecord => ({
  id,
  address: `${id}:1`,
  zone: 'z',
  labels: {},
  models: [{ name: 'm', versions: ['1'] }],
  weight: 1,
  capacity: 0,
  priority: 0,
  health: 'HEALTHY',
  load: NO_LOAD,
});

interface Replica {
  readonly store: EtcdStore;
  readonly clock: FakeClock;
}

/** A replica on its own fake clock, closed after the test. */
function replica(t: { after(fn: () => Promise<void>): void }, prefix: string): Replica {
  const clock = new FakeClock();
  const store = new EtcdStore({ endpoints: [etcd.url], prefix, log: silentLogger, clock });
  t.after(() => store.close());
  return { store, clock };
}

/** Replicas sharing one fresh prefix. */
function replicas(t: { after(fn: () => Promise<void>): void }, count: number, prefix = `/expiry-${++n}/`): Replica[] {
  return Array.from({ length: count }, () => replica(t, prefix));
}

const leaseLeft = async (lease: string) => Number((await raw.leaseClient.leaseTimeToLive({ ID: lease })).TTL);
/** Lets in-flight etcd calls (a timer's check and revoke) finish. */
const settle = () => new Promise((r) => setTimeout(r, 100));

test('a replica revokes a lease TTL + grace after the last heartbeat it saw, not before', { skip }, async (t) => {
  const [a] = replicas(t, 1);
  const { lease, ttlMs } = await a.store.grantLease(TTL);
  assert.equal(ttlMs, TTL);
  await a.store.put(rec('x'), lease);
  assert.equal(a.store.expiryIn(lease), TTL + EXPIRY_GRACE_MS, 'registration starts the timer');
  a.clock.advance(TTL + EXPIRY_GRACE_MS - 1);
  await settle();
  assert.equal(a.store.stats.expiryRevokes, 0);
  assert.ok((await a.store.get('x')) !== undefined, 'not yet');
  a.clock.advance(1);
  await waitFor(() => a.store.stats.expiryRevokes === 1, 'the revoke');
  assert.equal(await a.store.get('x'), undefined, 'the record went with the lease');
  assert.equal(await leaseLeft(lease), -1, 'etcd no longer has the lease');
  assert.equal(a.store.expiryIn(lease), undefined, 'timer cleared');
});

test("a heartbeat through another replica re-times this replica's timer; deregistration clears it", { skip }, async (t) => {
  const [a, b] = replicas(t, 2);
  const { lease } = await a.store.grantLease(TTL);
  await a.store.put(rec('x'), lease);
  await waitFor(() => b.store.expiryIn(lease) !== undefined, 'B to learn the lease from the hb watch');
  // Three rounds of 0.7 TTL on A's clock (2.1 TTLs in all), each ended by a heartbeat through B only.
  for (let i = 0; i < 3; i++) {
    a.clock.advance(0.7 * TTL);
    assert.equal(await b.store.keepAlive(lease), TTL, "the TTL the sidecar was told, not etcd's");
    await waitFor(() => a.store.expiryIn(lease) === TTL + EXPIRY_GRACE_MS, `A to re-time on B's heartbeat ${i + 1}`);
  }
  await settle();
  assert.deepEqual(a.store.stats, { expiryRevokes: 0, expiryAlreadyGone: 0, expiryRearms: 0, heartbeatWatchRestarts: 0 });
  assert.ok((await a.store.get('x')) !== undefined);
  await b.store.revokeLease(lease);
  await waitFor(() => a.store.expiryIn(lease) === undefined, "A to drop the timer on the hb key's deletion");
});

test('a replica started after the grant times the lease from when it read it', { skip }, async (t) => {
  const prefix = `/expiry-${++n}/`;
  const [a] = replicas(t, 1, prefix);
  const { lease } = await a.store.grantLease(TTL);
  a.clock.advance(0.9 * TTL);
  const c = replica(t, prefix);
  await waitFor(() => c.store.expiryIn(lease) !== undefined, 'C to list the hb keys');
  assert.equal(c.store.expiryIn(lease), TTL + EXPIRY_GRACE_MS, 'a full TTL from startup: late by less than a TTL, never early');
  c.clock.advance(TTL + EXPIRY_GRACE_MS);
  await waitFor(() => c.store.stats.expiryRevokes === 1, 'C to revoke it');
  assert.equal(await leaseLeft(lease), -1);
  await waitFor(() => a.store.expiryIn(lease) === undefined, "A to drop its timer on the hb key's deletion");
  assert.equal(a.store.stats.expiryRevokes, 0);
});

test('when several replicas time out together, one revokes and the rest find it gone', { skip }, async (t) => {
  const rs = replicas(t, 3);
  const { lease } = await rs[0].store.grantLease(TTL);
  await waitFor(() => rs.every((r) => r.store.expiryIn(lease) !== undefined), 'every replica to time it');
  for (const r of rs) r.clock.advance(TTL + EXPIRY_GRACE_MS);
  await waitFor(() => rs.every((r) => r.store.expiryIn(lease) === undefined), 'every timer to clear');
  await settle();
  assert.equal(
    rs.reduce((s, r) => s + r.store.stats.expiryRevokes, 0),
    1,
  );
  assert.equal(await leaseLeft(lease), -1);
});

test('hb keys never reach the endpoint list or watch', { skip }, async (t) => {
  const [a] = replicas(t, 1);
  const start = await a.store.list();
  const events: StoreEvent[] = [];
  const w = a.store.watch(start.revision, { onEvents: (e) => events.push(...e), onReset: () => undefined });
  t.after(() => w.cancel());
  const { lease } = await a.store.grantLease(TTL);
  await a.store.put(rec('x'), lease);
  await a.store.keepAlive(lease);
  await a.store.keepAlive(lease);
  await a.store.revokeLease(lease);
  await waitFor(() => events.length >= 2, "the record's put and delete");
  await settle();
  assert.deepEqual(
    events.map((e) => `${e.type} ${e.id}`),
    ['put x', 'delete x'],
  );
  assert.deepEqual((await a.store.list()).records, []);
});

test('a lease without an hb key (granted by a replica predating them) is left to etcd', { skip }, async (t) => {
  const [a] = replicas(t, 1);
  const grant = await raw.leaseClient.leaseGrant({ TTL: 10 });
  assert.equal((await a.store.put(rec('old'), grant.ID)) !== null, true);
  assert.equal(await a.store.keepAlive(grant.ID), 10_000, "etcd's TTL");
  assert.equal(a.store.expiryIn(grant.ID), undefined, 'no timer');
  await a.store.revokeLease(grant.ID);
});
