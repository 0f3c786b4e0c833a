// The sidecar-side registrar against real discovery over loopback (real
// clock, short TTLs): register, load on heartbeats, drain, deregister;
// retrying while discovery is down; re-registering after discovery lost its
// state; and a real process killed with SIGKILL leaving by lease expiry.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import * as path from 'node:path';
import { silentLogger } from '../../../common/log';
import { Registrar, type RegistrarOptions } from '../../../discovery/client/registrar';
import type { LoadSummary } from '../../../discovery/types';
import { DiscoveryWatcher } from '../../../discovery/client/watcher';
import { freePort, startTestDiscovery, waitFor } from '../../helpers/discovery-fixture';

const fast = { initialMs: 20, maxMs: 100, multiplier: 2, jitter: 0.5 };

function registrar(port: number, over: Partial<RegistrarOptions> = {}, load: LoadSummary = { queueDepth: 0, inFlight: 0, latencyMs: 0 }) {
  return new Registrar({
    discovery: `127.0.0.1:${port}`,
    advertise: '10.1.0.1:8001',
    zone: 'zone-a',
    models: [{ name: 'ranker', versions: ['1', '2'] }],
    ttlMs: 600,
    load: () => load,
    log: silentLogger,
    backoff: fast,
    callTimeoutMs: 500,
    ...over,
  });
}

function watcher(port: number) {
  const w = new DiscoveryWatcher({ discovery: `127.0.0.1:${port}`, log: silentLogger, backoff: fast });
  w.start();
  const ep = (id = '10.1.0.1:8001') => w.view().clusters.get('ranker')?.get(id);
  return { w, ep };
}

test('registers, reports load, announces DRAINING, and deregisters on stop', async () => {
  const server = await startTestDiscovery();
  const load = { queueDepth: 0, inFlight: 0, latencyMs: 2 };
  const r = registrar(server.grpcPort, {}, load);
  const { w, ep } = watcher(server.grpcPort);
  try {
    r.start();
    await waitFor(() => ep() !== undefined, 'registration seen by a watcher');
    // The watch can deliver the endpoint before Register's answer reaches the registrar.
    await waitFor(() => r.state === 'registered', 'the registrar to hold its lease');
    assert.deepEqual(ep()!.versions, ['1', '2']);
    assert.equal(ep()!.health, 'HEALTHY');
    Object.assign(load, { queueDepth: 40, inFlight: 48 });
    await waitFor(() => ep()?.load.queueDepth === 40, 'load from a heartbeat', 2000);
    await r.drain(); // resolves once discovery acknowledged it
    assert.equal(server.hub.record('10.1.0.1:8001')?.record.health, 'DRAINING');
    await waitFor(() => ep()?.health === 'DRAINING', 'DRAINING seen by the watcher', 1000);
    await r.stop();
    await waitFor(() => ep() === undefined, 'deregistration');
    assert.equal((await server.store.list()).records.length, 0);
  } finally {
    w.stop();
    await r.stop();
    await server.close();
  }
});

test('keeps retrying while discovery is down and registers once it is up', async () => {
  const port = await freePort();
  const r = registrar(port);
  r.start();
  await new Promise((res) => setTimeout(res, 150));
  assert.equal(r.state, 'registering');
  const server = await startTestDiscovery({ grpcPort: port });
  try {
    await waitFor(() => r.state === 'registered', 'registration after discovery came up');
    assert.equal(server.hub.endpointCount(), 1);
  } finally {
    await r.stop();
    await server.close();
  }
});

test('re-registers when discovery restarts without its state (heartbeat NOT_FOUND)', async () => {
  const port = await freePort();
  let server = await startTestDiscovery({ grpcPort: port });
  const r = registrar(port);
  const states: string[] = [];
  r.onState((s) => states.push(s));
  try {
    r.start();
    await waitFor(() => r.state === 'registered', 'first registration');
    const firstLease = r.leaseId;
    await server.close();
    server = await startTestDiscovery({ grpcPort: port });
    await waitFor(
      () => r.state === 'registered' && r.leaseId !== undefined && r.leaseId !== firstLease,
      're-registration with the new discovery',
      3000,
    );
    assert.equal(server.hub.record('10.1.0.1:8001')?.lease, r.leaseId);
    assert.deepEqual(states, ['registered', 'registering', 'registered']);
  } finally {
    await r.stop();
    await server.close();
  }
});

test('a registered process killed with SIGKILL leaves every view when its lease expires', async (t) => {
  const server = await startTestDiscovery();
  const { w, ep } = watcher(server.grpcPort);
  const registrarJs = path.resolve(__dirname, '../../../discovery/client/registrar.js');
  const script = `
    const { Registrar } = require(${JSON.stringify(registrarJs)});
    const log = { info() {}, warn() {}, error() {} };
    const r = new Registrar({ discovery: '127.0.0.1:${server.grpcPort}', advertise: '10.1.0.9:8001', models: [{ name: 'ranker', versions: ['1'] }],
      ttlMs: 600, load: () => ({ queueDepth: 0, inFlight: 0, latencyMs: 0 }), log });
    r.onState((s) => s === 'registered' && process.stdout.write('registered\\n'));
    r.start();`;
  const child = spawn(process.execPath, ['-e', script], { stdio: ['ignore', 'pipe', 'inherit'] });
  try {
    await waitFor(() => ep('10.1.0.9:8001') !== undefined, 'the child registered', 5000);
    await new Promise((res) => setTimeout(res, 700)); // longer than the TTL: heartbeats keep it
    assert.ok(ep('10.1.0.9:8001'), 'still registered after one TTL thanks to heartbeats');
    const killedAt = Date.now();
    child.kill('SIGKILL');
    await waitFor(() => ep('10.1.0.9:8001') === undefined, 'lease expiry', 3000);
    const tookMs = Date.now() - killedAt;
    t.diagnostic(`removed from the watcher's view ${tookMs} ms after SIGKILL (TTL 600 ms)`);
    assert.ok(tookMs <= 600 + 200, `removed ${tookMs} ms after SIGKILL (TTL 600 ms)`);
  } finally {
    child.kill('SIGKILL');
    w.stop();
    await server.close();
  }
});
