// The Discovery gRPC service over loopback with the in-memory store on a
// fake clock: registration, heartbeats, lease expiry, drain, watch snapshot
// then deltas, resume by version, several watchers, config push, admin HTTP.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { Status } from '../../../protocol/status';
import type { DiscoveryServer } from '../../../discovery/server/server';
import type { ConfigSource, RoutingConfigVersion } from '../../../discovery/types';
import type { DiscoveryClient } from '../../../discovery/wire';
import type { WatchResponse__Output } from '../../../proto/gen/infergate/discovery/v1/WatchResponse';
import { FakeClock } from '../../helpers/fake-clock';
import { client, deregister, heartbeat, register, sidecarReq, startTestDiscovery, WatchQueue } from '../../helpers/discovery-fixture';

let clock: FakeClock;
let server: DiscoveryServer;
let c: DiscoveryClient;
let configCb: ((cfg: RoutingConfigVersion) => void) | undefined;
const config: ConfigSource = {
  current: () => ({ version: 1, json: '{"models":{}}' }),
  onChange: (cb) => {
    configCb = cb;
    return () => (configCb = undefined);
  },
};
const watches: WatchQueue[] = [];
const watch = (req = {}) => {
  const w = new WatchQueue(c, req);
  watches.push(w);
  return w;
};

before(async () => {
  clock = new FakeClock();
  server = await startTestDiscovery({ clock, leaseTtlMs: 1000, config });
  c = client(server.grpcPort);
});

after(async () => {
  for (const w of watches) w.close();
  c.close();
  await server.close();
});

const changes = (m: WatchResponse__Output) => m.changes.map((x) => `${x.type}:${x.cluster_name}:${x.endpoint?.id}`);

test('Register validates the request, naming the field', async () => {
  const cases: [string, object, RegExp][] = [
    ['no address', { models: [{ name: 'm' }] }, /address is empty/],
    ['bad address', { address: 'nope', models: [{ name: 'm' }] }, /not host:port/],
    ['no models', { address: '10.0.0.9:1' }, /models is empty/],
    ['duplicate model', { address: '10.0.0.9:1', models: [{ name: 'm' }, { name: 'm' }] }, /models\[1\]\.name 'm' is listed twice/],
  ];
  for (const [name, req, msg] of cases) {
    await assert.rejects(
      register(c, req),
      (e: { code: number; details: string }) => e.code === Status.INVALID_ARGUMENT && msg.test(e.details),
      name,
    );
  }
});

test('watch: snapshot first, then per-cluster deltas with growing versions', async () => {
  const a = await register(c, sidecarReq(1, ['ranker']));
  assert.equal(a.endpoint_id, '10.0.0.1:8001');
  assert.equal(a.ttl_ms, 1000);
  assert.equal(a.heartbeat_interval_ms, 333);
  const w = watch({ watcher_id: 'snap' });
  const snap = await w.next();
  assert.equal(snap.snapshot, true);
  assert.equal(snap.epoch, server.hub.epoch);
  assert.deepEqual(
    snap.clusters.map((x) => [x.cluster_name, x.endpoints.map((e) => e.address)]),
    [['ranker', ['10.0.0.1:8001']]],
  );
  assert.equal(snap.clusters[0].endpoints[0].health, 'HEALTHY');
  assert.equal(snap.config?.version, 1, 'the routing config rides on the first message');

  const b = await register(c, sidecarReq(2, ['ranker', 'recommend'], { weight: 3, priority: 1, labels: { gpu: 'a100' } }));
  const d1 = await w.next();
  assert.equal(d1.snapshot, false);
  assert.ok(d1.version > snap.version);
  assert.deepEqual(changes(d1), ['INSERT:ranker:10.0.0.2:8001', 'INSERT:recommend:10.0.0.2:8001']);
  const ep = d1.changes[0].endpoint!;
  assert.deepEqual([ep.zone, ep.weight, ep.priority, ep.labels, ep.versions], ['zone-b', 3, 1, { gpu: 'a100' }, ['1']]);

  await deregister(c, b.lease_id);
  const d2 = await w.next();
  assert.ok(d2.version > d1.version);
  assert.deepEqual(changes(d2), ['REMOVE:ranker:10.0.0.2:8001', 'REMOVE:recommend:10.0.0.2:8001']);
  await deregister(c, a.lease_id);
  assert.deepEqual(changes(await w.next()), ['REMOVE:ranker:10.0.0.1:8001']);
});

test('heartbeats keep the lease; without them it expires and watchers see the removal', async () => {
  const w = watch();
  await w.next();
  const r = await register(c, sidecarReq(3));
  assert.deepEqual(changes(await w.next()), ['INSERT:ranker:10.0.0.3:8001']);
  clock.advance(900);
  assert.equal((await heartbeat(c, { lease_id: r.lease_id, endpoint_id: r.endpoint_id })).ttl_ms, 1000);
  clock.advance(900);
  assert.ok(await w.quiet(30), 'alive 1800 ms after registering thanks to the heartbeat');
  clock.advance(101);
  assert.deepEqual(changes(await w.next()), ['REMOVE:ranker:10.0.0.3:8001']);
  await assert.rejects(
    heartbeat(c, { lease_id: r.lease_id, endpoint_id: r.endpoint_id }),
    (e: { code: number; details: string }) => e.code === Status.NOT_FOUND && /register again/.test(e.details),
  );
});

test('DRAINING on a heartbeat reaches watchers; load is written only when it moved', async () => {
  const w = watch({ clusters: ['ranker'] });
  await w.next();
  const r = await register(c, sidecarReq(4));
  await w.next();
  const hb = (status: 'HEALTHY' | 'DRAINING' | 'HEALTH_UNKNOWN', queue_depth = 0) =>
    heartbeat(c, {
      lease_id: r.lease_id,
      endpoint_id: r.endpoint_id,
      status,
      load: { queue_depth, in_flight: queue_depth, latency_ewma_ms: 4 },
    });
  await hb('HEALTHY', 20);
  const load = (await w.next()).changes[0];
  assert.equal(load.type, 'UPDATE');
  assert.deepEqual(load.endpoint?.load, { queue_depth: 20, in_flight: 20, latency_ewma_ms: 4 });
  await hb('HEALTH_UNKNOWN', 21);
  assert.ok(await w.quiet(30), 'a 5 % wobble is not pushed');
  await hb('DRAINING', 21);
  const drain = (await w.next()).changes[0];
  assert.equal(drain.endpoint?.health, 'DRAINING');
  assert.equal(drain.endpoint?.load?.queue_depth, 21);
  await hb('HEALTH_UNKNOWN', 21);
  assert.ok(await w.quiet(30), 'unknown keeps the status');
  await deregister(c, r.lease_id);
  await w.next();
});

test('re-registering an endpoint is an update, and the old lease is revoked', async () => {
  const w = watch();
  await w.next();
  const first = await register(c, sidecarReq(5));
  await w.next();
  const second = await register(c, sidecarReq(5, ['ranker'], { weight: 7 }));
  assert.notEqual(second.lease_id, first.lease_id);
  const m = await w.next();
  assert.deepEqual(changes(m), ['UPDATE:ranker:10.0.0.5:8001']);
  assert.equal(m.changes[0].endpoint?.weight, 7);
  await assert.rejects(heartbeat(c, { lease_id: first.lease_id, endpoint_id: first.endpoint_id }), { code: Status.NOT_FOUND });
  await deregister(c, second.lease_id);
  await w.next();
});

test('resume by version: only the missed changes, coalesced; a foreign epoch gets a snapshot', async () => {
  const w = watch();
  const snap = await w.next();
  const keep = await register(c, sidecarReq(6));
  const seen = await w.next();
  w.close();
  const gone = await register(c, sidecarReq(7));
  await deregister(c, gone.lease_id); // inserted and removed while away: nothing to send
  await heartbeat(c, { lease_id: keep.lease_id, endpoint_id: keep.endpoint_id, status: 'DRAINING' });
  const late = await register(c, sidecarReq(8, ['embed']));

  const resumed = watch({ epoch: seen.epoch, last_version: seen.version, config_version: 1 });
  const m = await resumed.next();
  assert.equal(m.snapshot, false);
  assert.equal(m.version, server.hub.revision);
  assert.deepEqual(changes(m), ['UPDATE:ranker:10.0.0.6:8001', 'INSERT:embed:10.0.0.8:8001']);
  assert.equal(m.config?.version, 1, "the config rides on every stream's first message");

  const foreign = watch({ epoch: 'other', last_version: snap.version });
  const s = await foreign.next();
  assert.equal(s.snapshot, true);
  assert.deepEqual(
    s.clusters.map((x) => x.cluster_name),
    ['embed', 'ranker'],
  );
  await deregister(c, keep.lease_id);
  await deregister(c, late.lease_id);
});

test('several watchers see the same versions; a cluster filter narrows what one sees', async () => {
  const all = [watch(), watch(), watch()];
  const embedOnly = watch({ clusters: ['embed'] });
  for (const w of [...all, embedOnly]) await w.next();
  const r1 = await register(c, sidecarReq(9, ['ranker']));
  const r2 = await register(c, sidecarReq(10, ['embed', 'ranker']));
  const got = await Promise.all(all.map(async (w) => [await w.next(), await w.next()]));
  for (const msgs of got)
    assert.deepEqual(
      msgs.map((m) => m.version),
      got[0].map((m) => m.version),
    );
  const e = await embedOnly.next();
  assert.equal(e.version, got[0][1].version);
  assert.deepEqual(changes(e), ['INSERT:embed:10.0.0.10:8001']);
  assert.ok(await embedOnly.quiet(30));
  assert.equal(server.hub.watchers().filter((x) => x.clusters.includes('embed')).length, 1);
  await deregister(c, r1.lease_id);
  await deregister(c, r2.lease_id);
});

test('a new routing config version is pushed to every watcher', async () => {
  const w = watch({ config_version: 1 });
  assert.equal((await w.next()).config?.version, 1);
  configCb?.({ version: 2, json: '{"models":{"ranker":{}}}' });
  const m = await w.next();
  assert.deepEqual(m.config, { version: 2, json: '{"models":{"ranker":{}}}' });
  assert.deepEqual(m.changes, []);
});

test('admin HTTP: /endpoints, /config, /metrics, /healthz', async () => {
  const r = await register(c, sidecarReq(11, ['ranker']));
  const base = `http://127.0.0.1:${server.httpPort}`;
  const eps = (await (await fetch(`${base}/endpoints?cluster=ranker`)).json()) as {
    version: number;
    clusters: Record<string, { address: string }[]>;
    watchers: unknown[];
  };
  assert.deepEqual(
    eps.clusters.ranker.map((e) => e.address),
    ['10.0.0.11:8001'],
  );
  assert.equal(eps.version, server.hub.revision);
  assert.ok(Array.isArray(eps.watchers));
  const cfg = (await (await fetch(`${base}/config`)).json()) as { version: number; config: unknown };
  assert.deepEqual(cfg, { version: 2, config: { models: { ranker: {} } } });
  const metrics = await (await fetch(`${base}/metrics`)).text();
  assert.match(metrics, /discovery_endpoints 1/);
  assert.match(metrics, /discovery_registrations_total\{result="new"\} \d+/);
  assert.match(metrics, /discovery_watch_resumes_total [1-9]/);
  assert.equal((await fetch(`${base}/healthz`)).status, 200);
  assert.equal((await fetch(`${base}/nope`)).status, 404);
  await deregister(c, r.lease_id);
});
