// The balancer-side watcher against real discovery over loopback: static
// stability (the last view survives discovery going away), reconnect with
// backoff, resume by version, resync after discovery lost its state, and
// failover across addresses.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { seededRandom } from '../../../common/clock';
import { silentLogger } from '../../../common/log';
import { MemoryStore } from '../../../discovery/store/memory';
import { NO_LOAD, type ClusterChange, type EndpointRecord, type RoutingConfigVersion } from '../../../discovery/types';
import { DiscoveryWatcher, type ViewUpdate } from '../../../discovery/client/watcher';
import { applyWatchResponse, EMPTY_VIEW } from '../../../discovery/client/watcher-view';
import type { WatchResponse__Output } from '../../../proto/gen/infergate/discovery/v1/WatchResponse';
import { client, CutProxy, deregister, freePort, register, sidecarReq, startTestDiscovery, waitFor } from '../../helpers/discovery-fixture';

const fast = { initialMs: 20, maxMs: 100, multiplier: 2, jitter: 0.5 };
const ids = (w: DiscoveryWatcher, cluster = 'ranker') => [...(w.view().clusters.get(cluster)?.keys() ?? [])].sort();
const brief = (cs: readonly ClusterChange[]) => cs.map((c) => `${c.type}:${c.cluster}:${c.endpoint.id}`);

function record(w: DiscoveryWatcher) {
  const updates: ViewUpdate[] = [];
  const states: string[] = [];
  w.onUpdate((u) => updates.push(u));
  w.onState((s) => states.push(s));
  return { updates, states };
}

test('keeps the last view while discovery is unreachable, then resumes with only what it missed', async () => {
  const server = await startTestDiscovery();
  const c = client(server.grpcPort);
  const proxy = new CutProxy(await freePort(), server.grpcPort);
  await proxy.up();
  const a = await register(c, sidecarReq(1));
  const w = new DiscoveryWatcher({
    discovery: `127.0.0.1:${proxy.port}`,
    log: silentLogger,
    backoff: fast,
    random: seededRandom(3),
    watcherId: 'lb-1',
  });
  const rec = record(w);
  try {
    w.start();
    await waitFor(() => w.state === 'synced', 'first sync');
    assert.deepEqual(ids(w), ['10.0.0.1:8001']);
    assert.equal(rec.updates[0].snapshot, true);

    await proxy.down();
    await waitFor(() => w.state === 'disconnected', 'the watcher to notice');
    const held = w.view();
    await new Promise((r) => setTimeout(r, 150)); // several failed reconnects
    assert.equal(w.view(), held, 'the view is untouched while discovery is away');
    assert.deepEqual(ids(w), ['10.0.0.1:8001']);

    // Changes while the watcher is cut off.
    await register(c, sidecarReq(2));
    await deregister(c, a.lease_id);
    const before = rec.updates.length;
    await proxy.up();
    await waitFor(() => w.state === 'synced' && rec.updates.length > before, 'reconnect');
    const resumed = rec.updates[before];
    assert.equal(resumed.snapshot, false, 'resumed by version, no full resend');
    assert.deepEqual(brief(resumed.changes), ['INSERT:ranker:10.0.0.2:8001', 'REMOVE:ranker:10.0.0.1:8001']);
    assert.deepEqual(ids(w), ['10.0.0.2:8001']);
    assert.deepEqual(rec.states, ['synced', 'disconnected', 'synced']);
    assert.equal(w.view().version, server.hub.revision);
  } finally {
    w.stop();
    c.close();
    await proxy.down();
    await server.close();
  }
});

test('after discovery restarts with no state its partial snapshot shrinks nothing; the end of its warm-up drops who never came back', async () => {
  const port = await freePort();
  let server = await startTestDiscovery({ grpcPort: port });
  let c = client(port);
  await register(c, sidecarReq(1));
  await register(c, sidecarReq(2));
  const w = new DiscoveryWatcher({ discovery: `127.0.0.1:${port}`, log: silentLogger, backoff: fast });
  const rec = record(w);
  try {
    w.start();
    await waitFor(() => ids(w).length === 2, 'both endpoints');
    const oldEpoch = w.view().epoch;
    await server.close();
    c.close();
    await waitFor(() => w.state === 'disconnected', 'disconnect');
    assert.equal(ids(w).length, 2, 'static stability: nothing removed because discovery died');

    // The new discovery already holds one sidecar that re-registered, so its
    // first message to the watcher is deterministic.
    const store = new MemoryStore();
    const again: EndpointRecord = {
      id: '10.0.0.2:8001',
      address: '10.0.0.2:8001',
      zone: 'zone-b',
      labels: {},
      models: [{ name: 'ranker', versions: ['1'] }],
      weight: 4,
      capacity: 0,
      priority: 0,
      health: 'HEALTHY',
      load: NO_LOAD,
    };
    await store.put(again, (await store.grantLease(60_000)).lease);
    const before = rec.updates.length;
    server = await startTestDiscovery({ grpcPort: port, store, warmUpMs: 500 });
    c = client(port);
    await waitFor(() => w.state === 'synced' && rec.updates.length > before, 'resync');
    const u = rec.updates[before];
    assert.equal(u.snapshot, true);
    assert.notEqual(w.view().epoch, oldEpoch);
    // Within the warm-up the snapshot is partial: merged, so 10.0.0.1 (not re-registered yet) stays.
    assert.deepEqual(brief(u.changes), ['UPDATE:ranker:10.0.0.2:8001']);
    assert.deepEqual(ids(w), ['10.0.0.1:8001', '10.0.0.2:8001']);
    assert.equal(w.view().clusters.get('ranker')?.get('10.0.0.2:8001')?.weight, 4);
    // The warm-up ends with nobody re-registering 10.0.0.1: it is dropped then, and only then.
    await waitFor(() => rec.updates.length > before + 1, 'the end of the warm-up', 3000);
    assert.deepEqual(brief(rec.updates[before + 1].changes), ['REMOVE:ranker:10.0.0.1:8001']);
    assert.deepEqual(ids(w), ['10.0.0.2:8001']);
  } finally {
    w.stop();
    c.close();
    await server.close();
    await server.store.close();
  }
});

test('tries the next address when one is down; delivers routing config versions', async () => {
  let cb: ((c: RoutingConfigVersion) => void) | undefined;
  const server = await startTestDiscovery({
    config: { current: () => ({ version: 3, json: '{}' }), onChange: (f) => ((cb = f), () => undefined) },
  });
  const dead = await freePort();
  const w = new DiscoveryWatcher({
    discovery: `127.0.0.1:${dead},127.0.0.1:${server.grpcPort}`,
    clusters: ['ranker'],
    log: silentLogger,
    backoff: fast,
  });
  const configs: number[] = [];
  w.onConfig((c) => configs.push(c.version));
  try {
    w.start();
    await waitFor(() => w.state === 'synced', 'sync through the second address');
    assert.equal(w.view().config?.version, 3);
    cb?.({ version: 4, json: '{"x":1}' });
    await waitFor(() => configs.length === 2, 'the pushed config');
    assert.deepEqual(configs, [3, 4]);
    assert.equal(w.view().config?.json, '{"x":1}');
  } finally {
    w.stop();
    await server.close();
  }
});

test('a config with a known version but different content (another replica) still counts as a change', () => {
  const msg = (version: number, json: string): WatchResponse__Output => ({
    epoch: 'e',
    version: 1,
    snapshot: false,
    clusters: [],
    changes: [],
    config: { version, json },
    partial: false,
  });
  const a = applyWatchResponse(EMPTY_VIEW, msg(2, '{"a":1}'));
  assert.equal(a.configChanged, true);
  assert.equal(applyWatchResponse(a.view, msg(2, '{"a":1}')).configChanged, false, 'the same config again');
  const b = applyWatchResponse(a.view, msg(2, '{"b":1}'));
  assert.equal(b.configChanged, true);
  assert.equal(b.view.config?.json, '{"b":1}');
});
