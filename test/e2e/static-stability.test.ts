// Static stability: when discovery goes away, the balancer keeps routing on
// its last-known view (nothing in the data path waits on discovery), and
// when discovery comes back the sidecars re-register and the view resyncs.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { silentLogger } from '../../common/log';
import { startBalancer } from '../../balancer/balancer';
import { freePort, sidecarArgs, startCli, stop } from '../../testkit/processes';
import { startTestDiscovery, waitFor } from '../helpers/discovery-fixture';
import { features, independentClient, MODELS, rawF32, unary } from '../helpers/sidecar-fixture';

const req = {
  modelName: 'ranker',
  inputs: [{ name: 'features', datatype: 'FP32', shape: [1, 256] }],
  rawInputContents: [rawF32(features(1))],
};

test('the balancer keeps serving on its last view while discovery is down', async () => {
  const discoveryPort = await freePort();
  let discovery = await startTestDiscovery({ grpcPort: discoveryPort, leaseTtlMs: 1000 });
  const sidecars = [];
  for (let i = 0; i < 2; i++) {
    const [g, h, m] = [await freePort(), await freePort(), await freePort()];
    sidecars.push(startCli(sidecarArgs(MODELS, { grpc: g, http: h, metrics: m }, discoveryPort)));
  }
  const balancer = await startBalancer({
    discovery: `127.0.0.1:${discoveryPort}`,
    host: '127.0.0.1',
    grpcPort: 0,
    zone: '',
    log: silentLogger,
  });
  const client = independentClient(balancer.grpcPort);
  try {
    await waitFor(() => balancer.endpoints('ranker').length === 2, 'both sidecars in the balancer', 30_000);
    await discovery.close();
    // Longer than the lease TTL: a discovery that were up would have expired nobody (heartbeats),
    // a balancer that dropped its view on disconnect would have nothing.
    await new Promise((r) => setTimeout(r, 1500));
    assert.equal(balancer.endpoints('ranker').length, 2, 'the last view is kept');
    const results = await Promise.allSettled(Array.from({ length: 50 }, () => unary(client, 'ModelInfer', req)));
    assert.deepEqual(
      results.filter((r) => r.status === 'rejected'),
      [],
      'every call succeeds without discovery',
    );

    discovery = await startTestDiscovery({ grpcPort: discoveryPort, leaseTtlMs: 1000 });
    await waitFor(() => discovery.hub.endpointCount() === 2, 'sidecars re-register with the new discovery', 10_000);
    await new Promise((r) => setTimeout(r, 500));
    assert.equal(balancer.endpoints('ranker').length, 2, 'the resynced view has both sidecars');
    assert.ok((await unary(client, 'ModelInfer', req)).res);
  } finally {
    client.close();
    await balancer.close();
    await Promise.all(sidecars.map((c) => stop(c, 3000)));
    await discovery.close();
  }
});
