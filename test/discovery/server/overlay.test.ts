// The routing config's static endpoints and per-address overrides in the
// view every watcher sees (and GET /endpoints): static endpoints appear in
// each model cluster they list, overrides drain or re-weight any endpoint,
// and reloads reach watchers as deltas with growing versions.
import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { silentLogger } from '../../../common/log';
import { ConfigOverlay } from '../../../discovery/server/config-overlay';
import { openRoutingConfigSource } from '../../../routing-config/source';
import type { StaticEndpoint } from '../../../routing-config/types';
import type { DiscoveryServer } from '../../../discovery/server/server';
import { MemoryStore } from '../../../discovery/store/memory';
import { NO_LOAD, type ConfigSource, type EndpointRecord, type RoutingConfigVersion } from '../../../discovery/types';
import { VERSION_STEPS, WatchHub } from '../../../discovery/server/watch-hub';
import type { HubMessage } from '../../../discovery/types';
import type { DiscoveryClient } from '../../../discovery/wire';
import type { LbEndpoint__Output } from '../../../proto/gen/infergate/discovery/v1/LbEndpoint';
import type { WatchResponse__Output } from '../../../proto/gen/infergate/discovery/v1/WatchResponse';
import { FakeClock } from '../../helpers/fake-clock';
import { client, deregister, heartbeat, register, sidecarReq, startTestDiscovery, WatchQueue } from '../../helpers/discovery-fixture';

/** A ConfigSource the test drives: push() publishes the next version. */
class TestConfig implements ConfigSource {
  private version = 0;
  private cur: RoutingConfigVersion | undefined;
  private readonly cbs = new Set<(c: RoutingConfigVersion) => void>();

  constructor(fields?: object) {
    if (fields) this.cur = this.next(fields);
  }

  current(): RoutingConfigVersion | undefined {
    return this.cur;
  }

  onChange(cb: (c: RoutingConfigVersion) => void): () => void {
    this.cbs.add(cb);
    return () => this.cbs.delete(cb);
  }

  /** Publishes `fields` (endpoints, endpoint_overrides) as the next version; returns its number. */
  push(fields: object): number {
    this.cur = this.next(fields);
    for (const cb of this.cbs) cb(this.cur);
    return this.cur.version;
  }

  private next(fields: object): RoutingConfigVersion {
    return {
      version: ++this.version,
      json: JSON.stringify({ models: {}, objectives: {}, endpoints: [], endpoint_overrides: {}, ...fields }),
    };
  }
}

/** A static endpoint serving model → versions. */
const ep = (address: string, models: Record<string, string[]> = { ranker: ['1'] }, over: Partial<StaticEndpoint> = {}): StaticEndpoint => ({
  address,
  zone: 'zone-s',
  weight: 1,
  models: Object.entries(models).map(([name, versions]) => ({ name, versions })),
  ...over,
});

const changes = (m: WatchResponse__Output) => m.changes.map((x) => `${x.type}:${x.cluster_name}:${x.endpoint?.id}`).sort();
const byId = (m: WatchResponse__Output, cluster: string, id: string): LbEndpoint__Output | undefined =>
  m.clusters.find((c) => c.cluster_name === cluster)?.endpoints.find((e) => e.id === id) ??
  m.changes.find((c) => c.cluster_name === cluster && c.endpoint?.id === id)?.endpoint ??
  undefined;

const cleanup: (() => unknown)[] = [];
after(async () => {
  for (const f of cleanup.reverse()) await f();
});

/** Discovery on a fake clock (leases expire only when the test advances it) with a client and a watch helper. */
async function setup(
  config: ConfigSource,
  leaseTtlMs = 1000,
): Promise<{ server: DiscoveryServer; c: DiscoveryClient; clock: FakeClock; watch: (req?: object) => WatchQueue }> {
  const clock = new FakeClock();
  const server = await startTestDiscovery({ clock, leaseTtlMs, config });
  const c = client(server.grpcPort);
  const watches: WatchQueue[] = [];
  cleanup.push(async () => {
    for (const w of watches) w.close();
    c.close();
    await server.close();
  });
  const watch = (req = {}) => {
    const w = new WatchQueue(c, req);
    watches.push(w);
    return w;
  };
  return { server, c, clock, watch };
}

test('ConfigOverlay.effective: statics, registered records and overrides', () => {
  const reg = (address: string, id = address): EndpointRecord => ({
    id,
    address,
    zone: 'zone-r',
    labels: {},
    models: [{ name: 'ranker', versions: ['1'] }],
    weight: 3,
    capacity: 0,
    priority: 0,
    health: 'HEALTHY',
    load: NO_LOAD,
  });
  const cfg = new TestConfig({
    endpoints: [ep('10.1.0.1:8001', { ranker: ['1'] }, { weight: 2 }), ep('10.1.0.2:8001')],
    endpoint_overrides: {
      '10.1.0.2:8001': { drain: true },
      '10.0.0.5:8001': { weight: 7, drain: false },
      '10.0.0.6:8001': { drain: false },
    },
  });
  const o = ConfigOverlay.fromConfig(cfg.current());
  const r5 = reg('10.0.0.5:8001');
  const r6 = reg('10.0.0.6:8001');
  const cases: [string, ConfigOverlay, string, EndpointRecord | undefined, Partial<EndpointRecord> | undefined][] = [
    ['no config: the registered record as is', ConfigOverlay.EMPTY, r5.id, r5, r5],
    ['no config, nothing registered: nothing', ConfigOverlay.EMPTY, '10.1.0.1:8001', undefined, undefined],
    [
      'a static endpoint, healthy with its weight',
      o,
      '10.1.0.1:8001',
      undefined,
      { address: '10.1.0.1:8001', zone: 'zone-s', weight: 2, health: 'HEALTHY' },
    ],
    ['a drained static endpoint', o, '10.1.0.2:8001', undefined, { weight: 1, health: 'DRAINING' }],
    [
      'a registration shadows the static entry (the override still applies)',
      o,
      '10.1.0.2:8001',
      reg('10.1.0.2:8001'),
      { zone: 'zone-r', weight: 3, health: 'DRAINING' },
    ],
    ['a weight override on a registered endpoint', o, r5.id, r5, { weight: 7, health: 'HEALTHY' }],
    ['overrides match the address, not the id', o, 'sidecar-5', reg('10.0.0.5:8001', 'sidecar-5'), { id: 'sidecar-5', weight: 7 }],
    ['an override that changes nothing returns the record itself', o, r6.id, r6, r6],
  ];
  for (const [name, overlay, id, registered, want] of cases) {
    const got = overlay.effective(id, registered);
    if (want === undefined) assert.equal(got, undefined, name);
    else if (want === registered) assert.equal(got, registered, name);
    else assert.deepEqual(Object.fromEntries(Object.keys(want).map((k) => [k, got?.[k as keyof EndpointRecord]])), want, name);
  }
});

test("a static endpoint from the config is in every watcher's snapshot, in each cluster it lists, and in GET /endpoints", async () => {
  const { server, watch } = await setup(
    new TestConfig({ endpoints: [ep('10.1.0.1:8001', { ranker: ['1', '2'], recommend: [] }, { weight: 2 })] }),
  );
  const cases: [string[], string[]][] = [
    [[], ['ranker', 'recommend']],
    [['recommend'], ['recommend']],
  ];
  for (const [filter, want] of cases) {
    const snap = await watch({ clusters: filter }).next();
    assert.equal(snap.snapshot, true);
    assert.deepEqual(
      snap.clusters.map((c) => c.cluster_name),
      want,
      `watching ${filter.join(',') || 'everything'}`,
    );
    for (const cluster of want) {
      const e = byId(snap, cluster, '10.1.0.1:8001');
      assert.ok(e, `in cluster ${cluster}`);
      assert.deepEqual([e.address, e.zone, e.weight, e.health], ['10.1.0.1:8001', 'zone-s', 2, 'HEALTHY']);
      assert.deepEqual(e.versions, cluster === 'ranker' ? ['1', '2'] : []);
    }
  }
  assert.equal(server.hub.record('10.1.0.1:8001'), undefined, 'no lease, nothing in the store');
  const res = (await (await fetch(`http://127.0.0.1:${server.httpPort}/endpoints`)).json()) as {
    clusters: Record<string, { id: string; health: string }[]>;
  };
  assert.deepEqual(Object.keys(res.clusters).sort(), ['ranker', 'recommend']);
  assert.deepEqual(
    res.clusters.ranker.map((e) => [e.id, e.health]),
    [['10.1.0.1:8001', 'HEALTHY']],
  );
});

test('an override drains or re-weights a registered sidecar; its own heartbeats do not undo it; dropping the override restores it', async () => {
  const cfg = new TestConfig({});
  const { server, c, watch } = await setup(cfg);
  const w = watch();
  await w.next();
  // [case, weight the sidecar registers with, override, what watchers see]
  const cases: [string, number, object, { health: string; weight: number }][] = [
    ['drain', 3, { drain: true }, { health: 'DRAINING', weight: 3 }],
    ['weight', 3, { weight: 5, drain: false }, { health: 'HEALTHY', weight: 5 }],
    ['weight and drain', 3, { weight: 2, drain: true }, { health: 'DRAINING', weight: 2 }],
  ];
  let n = 20;
  for (const [name, weight, override, want] of cases) {
    const reg = await register(c, sidecarReq(++n, ['ranker'], { weight }));
    const id = reg.endpoint_id;
    assert.deepEqual(changes(await w.next()), [`INSERT:ranker:${id}`], name);
    cfg.push({ endpoint_overrides: { [id]: override } });
    let m = await w.next();
    assert.deepEqual(changes(m), [`UPDATE:ranker:${id}`], name);
    assert.deepEqual({ health: byId(m, 'ranker', id)?.health, weight: byId(m, 'ranker', id)?.weight }, want, name);
    // The sidecar keeps saying HEALTHY and reports load: the view keeps the override.
    await heartbeat(c, {
      lease_id: reg.lease_id,
      endpoint_id: id,
      status: 'HEALTHY',
      load: { queue_depth: 40, in_flight: 50, latency_ewma_ms: 9 },
    });
    m = await w.next();
    assert.deepEqual(
      { health: byId(m, 'ranker', id)?.health, weight: byId(m, 'ranker', id)?.weight, q: byId(m, 'ranker', id)?.load?.queue_depth },
      { ...want, q: 40 },
      `${name}: after a heartbeat`,
    );
    assert.equal(server.hub.record(id)?.record.health, 'HEALTHY', `${name}: the store keeps what the sidecar said`);
    cfg.push({});
    m = await w.next();
    assert.deepEqual(
      { health: byId(m, 'ranker', id)?.health, weight: byId(m, 'ranker', id)?.weight },
      { health: 'HEALTHY', weight },
      `${name}: restored`,
    );
    await deregister(c, reg.lease_id);
    assert.deepEqual(changes(await w.next()), [`REMOVE:ranker:${id}`]);
  }
});

test('reloads reach watchers as deltas with growing versions; a watcher resuming across them gets the net change', async () => {
  const cfg = new TestConfig({});
  const { watch } = await setup(cfg);
  const w = watch();
  let last = await w.next();
  const A = '10.1.0.1:8001';
  const both = { ranker: ['1'], recommend: ['1'] };
  const steps: [string, object, string[]][] = [
    ['add a static endpoint', { endpoints: [ep(A)] }, [`INSERT:ranker:${A}`]],
    ['it serves another model', { endpoints: [ep(A, both)] }, [`INSERT:recommend:${A}`]],
    [
      'its weight and zone change',
      { endpoints: [ep(A, both, { weight: 4, zone: 'zone-t' })] },
      [`UPDATE:ranker:${A}`, `UPDATE:recommend:${A}`],
    ],
    [
      'an override drains it',
      { endpoints: [ep(A, both, { weight: 4, zone: 'zone-t' })], endpoint_overrides: { [A]: { drain: true } } },
      [`UPDATE:ranker:${A}`, `UPDATE:recommend:${A}`],
    ],
    [
      'a reload that changes no endpoint',
      { endpoints: [ep(A, both, { weight: 4, zone: 'zone-t' })], endpoint_overrides: { [A]: { drain: true } }, models: { ranker: {} } },
      [],
    ],
    [
      'it drops a model',
      { endpoints: [ep(A, { ranker: ['1'] }, { weight: 4, zone: 'zone-t' })], endpoint_overrides: { [A]: { drain: true } } },
      [`REMOVE:recommend:${A}`],
    ],
    ['it leaves the file', {}, [`REMOVE:ranker:${A}`]],
  ];
  let afterFirst: WatchResponse__Output | undefined;
  for (const [name, fields, want] of steps) {
    const configVersion = cfg.push(fields);
    const m = await w.next();
    assert.equal(m.snapshot, false, name);
    assert.deepEqual(changes(m), want.sort(), name);
    assert.equal(m.config?.version, configVersion, `${name}: the config rides in the same message`);
    if (want.length > 0) assert.ok(m.version > last.version, `${name}: version grows (${last.version} -> ${m.version})`);
    else assert.equal(m.version, last.version, `${name}: nothing changed, same version`);
    last = m;
    afterFirst ??= m;
  }
  assert.ok(await w.quiet(50), 'one message per reload');
  // Resuming from after the first reload: ranker was held and is gone; recommend came and went.
  const r = watch({ epoch: afterFirst!.epoch, last_version: afterFirst!.version });
  const resumed = await r.next();
  assert.equal(resumed.snapshot, false);
  assert.deepEqual(changes(resumed), [`REMOVE:ranker:${A}`]);
  assert.equal(resumed.version, last.version);
});

test('removing a static endpoint from routing.yaml removes it from the view (real file and parser)', async () => {
  const dir = await mkdtemp(join(tmpdir(), 'overlay-'));
  const file = join(dir, 'routing.yaml');
  const yaml = (eps: string[]) =>
    `endpoints:\n${eps.map((a) => `  - { address: "${a}", zone: us-east-1a, models: { ranker: [1], recommend: [] } }\n`).join('')}`;
  await writeFile(file, yaml(['10.2.0.1:8001', '10.2.0.2:8001']));
  const src = await openRoutingConfigSource({ file, log: silentLogger, watch: false, pollMs: 0, triggers: [] });
  cleanup.push(
    () => rm(dir, { recursive: true, force: true }),
    () => src.close(),
  );
  const { server, watch } = await setup(src);
  const w = watch();
  const snap = await w.next();
  assert.deepEqual(
    snap.clusters.map((c) => [c.cluster_name, c.endpoints.map((e) => e.id)]),
    [
      ['ranker', ['10.2.0.1:8001', '10.2.0.2:8001']],
      ['recommend', ['10.2.0.1:8001', '10.2.0.2:8001']],
    ],
  );
  await writeFile(file, yaml(['10.2.0.1:8001']));
  assert.equal(await src.reload(), true);
  const m = await w.next();
  assert.deepEqual(changes(m), ['REMOVE:ranker:10.2.0.2:8001', 'REMOVE:recommend:10.2.0.2:8001']);
  assert.ok(m.version > snap.version);
  const res = (await (await fetch(`http://127.0.0.1:${server.httpPort}/endpoints`)).json()) as {
    version: number;
    clusters: Record<string, { id: string }[]>;
  };
  assert.deepEqual(
    res.clusters.ranker.map((e) => e.id),
    ['10.2.0.1:8001'],
  );
  assert.equal(res.version, m.version, 'the admin page shows the version watchers hold');
});

test('a sidecar registering at a static address takes over its entry; the static entry returns when its lease ends', async () => {
  const A = '10.0.0.31:8001';
  const { c, clock, watch } = await setup(new TestConfig({ endpoints: [ep(A)] }));
  const w = watch();
  assert.equal(byId(await w.next(), 'ranker', A)?.zone, 'zone-s');
  await register(c, sidecarReq(31));
  let m = await w.next();
  assert.deepEqual(changes(m), [`UPDATE:ranker:${A}`], 'one endpoint, now the registered one');
  assert.equal(byId(m, 'ranker', A)?.zone, 'zone-a');
  clock.advance(1001);
  m = await w.next();
  assert.deepEqual(changes(m), [`UPDATE:ranker:${A}`]);
  assert.equal(byId(m, 'ranker', A)?.zone, 'zone-s', 'back to the static entry');
});

test(`after ${VERSION_STEPS - 1} view-changing reloads at one store revision, the next starts a new epoch with a snapshot`, async () => {
  const store = new MemoryStore();
  const hub = new WatchHub(store, { log: silentLogger });
  await hub.start();
  const cfg = new TestConfig({});
  const got: HubMessage[] = [];
  hub.subscribe({ epoch: '', lastVersion: 0, clusters: [], configVersion: 0, watcherId: 't' }, (m) => got.push(m));
  cfg.onChange((v) => hub.setConfig(v));
  const epoch0 = hub.epoch;
  for (let i = 1; i <= VERSION_STEPS; i++) cfg.push({ endpoints: [ep('10.3.0.1:8001', { ranker: [String(i)] })] });
  const deltas = got.slice(1, VERSION_STEPS);
  assert.ok(
    deltas.every((m, i) => !m.snapshot && m.epoch === epoch0 && (i === 0 || m.version > deltas[i - 1].version)),
    'versions grow within the epoch',
  );
  const last = got[VERSION_STEPS];
  assert.equal(last.snapshot, true);
  assert.notEqual(last.epoch, epoch0);
  assert.deepEqual(
    last.clusters.get('ranker')?.map((e) => e.versions),
    [[String(VERSION_STEPS)]],
  );
  // Store writes carry on in the new epoch.
  const { lease } = await store.grantLease(1000);
  await store.put(
    {
      id: 'x',
      address: '10.3.0.2:1',
      zone: '',
      labels: {},
      models: [{ name: 'ranker', versions: [] }],
      weight: 1,
      capacity: 0,
      priority: 0,
      health: 'HEALTHY',
      load: NO_LOAD,
    },
    lease,
  );
  const put = got[got.length - 1];
  assert.equal(put.epoch, last.epoch);
  assert.ok(put.version > last.version);
  hub.close();
  await store.close();
});
