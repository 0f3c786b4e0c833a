// etcd mode against a real etcd (Debian's etcd-server): the store on its
// own, then two discovery replicas sharing one etcd. What registers through
// replica A is seen on replica B; heartbeats and drain work through either
// and keep A's expiry timer from revoking; a lapsed lease is revoked by a
// replica at the TTL the sidecar was told, before etcd's rounded-up lease
// ends; a watcher moves from A to B and resumes by version.
// (The store's timers on a fake clock: etcd-expiry.test.ts.)
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { Etcd3 } from 'etcd3';
import { silentLogger } from '../../common/log';
import { Registrar } from '../../discovery/client/registrar';
import type { DiscoveryServer } from '../../discovery/server/server';
import { EtcdStore } from '../../discovery/store/etcd';
import { NO_LOAD, type EndpointRecord } from '../../discovery/types';
import { DiscoveryWatcher, type ViewUpdate } from '../../discovery/client/watcher';
import type { DiscoveryClient } from '../../discovery/wire';
import { client, deregister, heartbeat, register, sidecarReq, startTestDiscovery, waitFor } from '../helpers/discovery-fixture';
import { etcdMissing, startEtcd, type EtcdProcess } from '../../testkit/etcd-process';

const skip = etcdMissing();
const fast = { initialMs: 20, maxMs: 100, multiplier: 2, jitter: 0.5 };
let etcd: EtcdProcess;
let storeA: EtcdStore;
let storeB: EtcdStore;
let A: DiscoveryServer;
let B: DiscoveryServer;
let cA: DiscoveryClient;
let cB: DiscoveryClient;
let raw: Etcd3;

/** etcd's view of a lease: seconds left (-1 when gone) and seconds granted. */
async function etcdLease(lease: string): Promise<{ ttl: number; granted: number }> {
  const res = await raw.leaseClient.leaseTimeToLive({ ID: lease });
  return { ttl: Number(res.TTL), granted: Number(res.grantedTTL) };
}

const revokes = () => storeA.stats.expiryRevokes + storeB.stats.expiryRevokes;

before(async () => {
  if (skip) return;
  etcd = await startEtcd();
  raw = new Etcd3({ hosts: [etcd.url] });
  storeA = new EtcdStore({ endpoints: [etcd.url], log: silentLogger });
  storeB = new EtcdStore({ endpoints: [etcd.url], log: silentLogger });
  A = await startTestDiscovery({ store: storeA, minLeaseTtlMs: 1000 });
  B = await startTestDiscovery({ store: storeB, minLeaseTtlMs: 1000 });
  cA = client(A.grpcPort);
  cB = client(B.grpcPort);
});

after(async () => {
  if (skip) return;
  cA.close();
  cB.close();
  await A.close();
  await B.close();
  await storeA.close();
  await storeB.close();
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

test('etcd store: leases, records, revisions, and one shared epoch', { skip }, async () => {
  const store = new EtcdStore({ endpoints: [etcd.url], prefix: '/store-test/', log: silentLogger });
  try {
    const { lease, ttlMs } = await store.grantLease(1000);
    assert.equal(ttlMs, 1000);
    const r1 = await store.put(rec('a'), lease);
    const r2 = await store.put(rec('b'), lease);
    assert.ok(r1 !== null && r2 !== null && r2 > r1);
    assert.equal((await store.get('a'))?.lease, lease);
    assert.equal(await store.keepAlive(lease), 1000);
    assert.equal(await store.keepAlive('12345'), null, 'unknown lease');
    assert.equal(await store.put(rec('c'), '12345'), null, 'write under an unknown lease');
    const snap = await store.list();
    assert.deepEqual(snap.records.map((r) => r.record.id).sort(), ['a', 'b']);
    assert.ok(snap.revision >= r2!);
    const other = new EtcdStore({ endpoints: [etcd.url], prefix: '/store-test/', log: silentLogger });
    assert.equal(snap.epoch, (await other.list()).epoch, 'a second replica reads the same epoch');
    await other.close();
    await store.revokeLease(lease);
    await store.revokeLease(lease); // unknown: ignored
    assert.equal((await store.list()).records.length, 0);
  } finally {
    await store.close();
  }
});

test('registered through replica A, seen by a watcher on replica B; heartbeat and drain through B', { skip }, async () => {
  const w = new DiscoveryWatcher({ discovery: `127.0.0.1:${B.grpcPort}`, log: silentLogger, backoff: fast });
  const ep = () => w.view().clusters.get('ranker')?.get('10.0.0.1:8001');
  try {
    w.start();
    const r = await register(cA, sidecarReq(1, ['ranker'], { ttl_ms: 1000 }));
    await waitFor(() => ep() !== undefined, 'B to see the registration made on A');
    assert.equal(w.view().epoch, A.hub.epoch, 'both replicas share one epoch');
    // B keeps alive a lease A granted, and writes the status change.
    await heartbeat(cB, { lease_id: r.lease_id, endpoint_id: r.endpoint_id, status: 'DRAINING' });
    await waitFor(() => ep()?.health === 'DRAINING', 'DRAINING through B');
    await waitFor(() => A.hub.record('10.0.0.1:8001')?.record.health === 'DRAINING', 'A sees the drain too');
    await deregister(cB, r.lease_id);
    await waitFor(() => ep() === undefined && A.hub.endpointCount() === 0, 'removal on both replicas');
  } finally {
    w.stop();
  }
});

test('registered through A, heartbeating only through B for several TTLs: A never revokes it', { skip }, async (t) => {
  const r = await register(cA, sidecarReq(5, ['ranker'], { ttl_ms: 1000 }));
  const id = r.endpoint_id;
  await waitFor(() => B.hub.record(id) !== undefined, 'B to see it');
  const before = { revokes: revokes(), rearms: storeA.stats.expiryRearms };
  // 4 TTLs; a heartbeat every 300 ms leaves 700 ms + grace of slack per beat.
  const end = Date.now() + 4000;
  while (Date.now() < end) {
    assert.equal((await heartbeat(cB, { lease_id: r.lease_id, endpoint_id: id })).ttl_ms, 1000);
    await new Promise((res) => setTimeout(res, 300));
  }
  assert.equal(revokes(), before.revokes, 'no replica revoked the lease');
  assert.ok(A.hub.record(id) && B.hub.record(id), 'still in both views');
  assert.notEqual((await etcdLease(r.lease_id)).ttl, -1, 'the lease is alive in etcd (-1: gone; whole seconds left, so 0 is alive)');
  t.diagnostic(`A's timer re-armed by its own check (watch behind): ${storeA.stats.expiryRearms - before.rearms} times`);
  await deregister(cB, r.lease_id);
  await waitFor(
    () => storeA.expiryIn(r.lease_id) === undefined && storeB.expiryIn(r.lease_id) === undefined,
    'deregistration to clear both timers',
  );
});

test('a sidecar that stops heartbeating: a replica revokes its lease at the TTL it was told, before etcd would', { skip }, async (t) => {
  // etcd rounds 1100 ms up to a 2 s lease; the sidecar is told 1100 ms and
  // the replicas' timers enforce that. etcd cannot end the lease before 2 s
  // after the last keepalive, so a successful revoke by a replica (counted
  // only when etcd still had the lease) is the replicas' doing: it fires at
  // ~1.14 s, leaving ~0.86 s for a loaded host to be late.
  const r = await register(cA, sidecarReq(2, ['ranker'], { ttl_ms: 1100 }));
  assert.equal(r.ttl_ms, 1100, 'the sidecar is told the TTL it asked for');
  assert.equal((await etcdLease(r.lease_id)).granted, 2, 'etcd granted whole seconds');
  await waitFor(() => B.hub.record(r.endpoint_id) !== undefined, 'B to see it');
  const before = revokes();
  const sent = Date.now();
  await heartbeat(cB, { lease_id: r.lease_id, endpoint_id: r.endpoint_id });
  await waitFor(() => !A.hub.record(r.endpoint_id) && !B.hub.record(r.endpoint_id), 'both replicas to drop it', 5000);
  t.diagnostic(`gone from both views ${Date.now() - sent} ms after the last heartbeat (TTL 1100 ms; etcd's lease 2 s)`);
  // The revoke's watch event can reach the hubs before its own RPC answer reaches the replica
  // that counts it: wait for the count (a replica that never revoked leaves it where it was).
  await waitFor(() => revokes() > before, 'the revoking replica to count its revoke', 1000).catch(() => undefined);
  assert.equal(revokes(), before + 1, 'one replica revoked it while etcd still held the lease');
  assert.equal((await etcdLease(r.lease_id)).ttl, -1, 'the lease is gone from etcd');
});

test('a watcher moves from replica A to B and resumes by version; a registrar keeps its lease through B', { skip }, async () => {
  const C = await startTestDiscovery({ store: storeA, minLeaseTtlMs: 1000 }); // a replica we can stop
  const both = `127.0.0.1:${C.grpcPort},127.0.0.1:${B.grpcPort}`;
  const w = new DiscoveryWatcher({ discovery: both, log: silentLogger, backoff: fast });
  const updates: ViewUpdate[] = [];
  w.onUpdate((u) => updates.push(u));
  const r = new Registrar({
    discovery: both,
    advertise: '10.0.0.3:8001',
    models: [{ name: 'ranker', versions: ['1'] }],
    ttlMs: 1000,
    load: () => NO_LOAD,
    log: silentLogger,
    backoff: fast,
    callTimeoutMs: 300,
  });
  try {
    w.start();
    r.start();
    // The watch can show the endpoint before Register's answer reaches the registrar: wait for both.
    await waitFor(() => r.state === 'registered' && w.view().clusters.get('ranker')?.has('10.0.0.3:8001') === true, 'registration via C');
    const lease = r.leaseId;
    assert.ok(lease, 'a lease from C');
    await C.close();
    await waitFor(() => w.state === 'disconnected', 'the watcher to lose C');
    const since = updates.length;
    await register(cB, sidecarReq(4, ['ranker']));
    await waitFor(() => w.state === 'synced' && w.view().clusters.get('ranker')?.has('10.0.0.4:8001') === true, 'the watcher on B', 3000);
    const onB = updates.slice(since);
    assert.ok(
      onB.every((u) => !u.snapshot),
      'resumed on B with the version from C: no snapshot',
    );
    assert.deepEqual(
      onB.flatMap((u) => u.changes.map((c) => c.endpoint.id)),
      ['10.0.0.4:8001'],
    );
    await new Promise((res) => setTimeout(res, 1500)); // past the TTL: heartbeats now go to B
    assert.equal(r.leaseId, lease, 'same lease, kept alive through B');
    assert.ok(w.view().clusters.get('ranker')?.has('10.0.0.3:8001'));
  } finally {
    await r.stop();
    w.stop();
    await C.close();
  }
});
