// A real sidecar process registering with discovery through --discovery:
// seen by a watcher with its models, zone and address; DRAINING then gone
// on SIGTERM; gone by lease expiry after kill -9.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { silentLogger } from '../../common/log';
import { DiscoveryWatcher } from '../../discovery/client/watcher';
import { freePort, sidecarArgs, startCli, stop } from '../../testkit/processes';
import { startTestDiscovery, waitFor } from '../helpers/discovery-fixture';
import { MODELS } from '../helpers/sidecar-fixture';

async function sidecarProcess(discoveryPort: number, zone: string) {
  const [g, h, m] = [await freePort(), await freePort(), await freePort()];
  const child = startCli(sidecarArgs(MODELS, { grpc: g, http: h, metrics: m }, discoveryPort, ['--zone', zone]));
  return { child, address: `127.0.0.1:${g}` };
}

test('a sidecar registers its models, drains on SIGTERM, and deregisters', async () => {
  const server = await startTestDiscovery({ leaseTtlMs: 1000 });
  const w = new DiscoveryWatcher({ discovery: `127.0.0.1:${server.grpcPort}`, log: silentLogger });
  w.start();
  const { child, address } = await sidecarProcess(server.grpcPort, 'zone-b');
  const seen = (model: string) => w.view().clusters.get(model)?.get(address);
  const healths: string[] = [];
  try {
    await waitFor(() => seen('ranker')?.health === 'HEALTHY', 'the sidecar registered', 20_000);
    const ep = seen('ranker')!;
    assert.equal(ep.zone, 'zone-b');
    assert.deepEqual([...ep.versions], ['1', '2']);
    assert.ok(seen('recommend'), 'every model is a cluster');
    // Read after every applied message, not on a timer: a sidecar with nothing in flight drains in
    // a few ms, and a 5 ms poll on a loaded machine missed its DRAINING view.
    const off = w.onUpdate(() => {
      const hth = seen('ranker')?.health ?? 'GONE';
      if (healths[healths.length - 1] !== hth) healths.push(hth);
    });
    assert.equal(await stop(child), 0);
    await waitFor(() => seen('ranker') === undefined, 'deregistered', 3000);
    off();
    assert.deepEqual(
      healths.filter((x) => x !== 'HEALTHY'),
      ['DRAINING', 'GONE'],
      'DRAINING is announced before the endpoint leaves',
    );
  } finally {
    if (child.exitCode === null) child.kill('SIGKILL');
    w.stop();
    await server.close();
  }
});

test('a sidecar killed with SIGKILL leaves the view when its lease expires', async (t) => {
  const ttl = 1000;
  const server = await startTestDiscovery({ leaseTtlMs: ttl });
  const w = new DiscoveryWatcher({ discovery: `127.0.0.1:${server.grpcPort}`, log: silentLogger });
  w.start();
  const { child, address } = await sidecarProcess(server.grpcPort, 'zone-a');
  try {
    await waitFor(() => w.view().clusters.get('ranker')?.get(address) !== undefined, 'the sidecar registered', 20_000);
    const killedAt = Date.now();
    child.kill('SIGKILL');
    await waitFor(() => w.view().clusters.get('ranker')?.get(address) === undefined, 'lease expiry', ttl + 2000);
    const took = Date.now() - killedAt;
    t.diagnostic(`gone ${took} ms after SIGKILL (TTL ${ttl} ms)`);
    assert.ok(took <= ttl + 300, `gone ${took} ms after SIGKILL; expected within TTL + 300 ms`);
  } finally {
    if (child.exitCode === null) child.kill('SIGKILL');
    w.stop();
    await server.close();
  }
});
