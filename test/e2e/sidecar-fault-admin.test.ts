// A real CLI sidecar started with --fault-admin turned slow, failing and
// healthy again through PUT /fault on its metrics port, and one started
// without the flag refusing /fault. Only lower bounds on time are asserted:
// a request delayed N ms cannot answer in under N ms, whatever the load.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as grpc from '@grpc/grpc-js';
import { freePort, sidecarArgs, startCli, stop, waitReady } from '../../testkit/processes';
import { startTestDiscovery } from '../helpers/discovery-fixture';
import { features, independentClient, MODELS, rawF32, unary } from '../helpers/sidecar-fixture';

const req = {
  modelName: 'ranker',
  inputs: [{ name: 'features', datatype: 'FP32', shape: [1, 256] }],
  rawInputContents: [rawF32(features(1))],
};

async function cliSidecar(discoveryPort: number, extra: string[]) {
  const ports = { grpc: await freePort(), http: await freePort(), metrics: await freePort() };
  const child = startCli(sidecarArgs(MODELS, ports, discoveryPort, extra));
  await waitReady(`http://127.0.0.1:${ports.http}/v2/health/ready`);
  return { child, ports, fault: `http://127.0.0.1:${ports.metrics}/fault` };
}

const put = async (url: string, body: unknown) => {
  const r = await fetch(url, { method: 'PUT', body: JSON.stringify(body) });
  return { status: r.status, body: (await r.json()) as unknown };
};

test('PUT /fault slows, fails and restores a running CLI sidecar', async () => {
  const discovery = await startTestDiscovery();
  const s = await cliSidecar(discovery.grpcPort, ['--fault-admin']);
  const client = independentClient(s.ports.grpc);
  try {
    assert.deepEqual(await (await fetch(s.fault)).json(), { delay_ms: 0, abort_percent: 0 });
    assert.deepEqual(await put(s.fault, { delay_ms: 200 }), { status: 200, body: { delay_ms: 200, abort_percent: 0 } });
    const t0 = performance.now();
    await unary(client, 'ModelInfer', req);
    const took = performance.now() - t0;
    assert.ok(took >= 200, `a call after PUT delay_ms 200 took ${took.toFixed(1)} ms; expected at least the delay`);

    assert.deepEqual(await put(s.fault, { abort_percent: 100 }), { status: 200, body: { delay_ms: 200, abort_percent: 100 } });
    await assert.rejects(unary(client, 'ModelInfer', req), (e: grpc.ServiceError) => {
      assert.equal(e.code, grpc.status.UNAVAILABLE);
      assert.match(e.details, /fault injected/);
      return true;
    });

    assert.deepEqual(await put(s.fault, { delay_ms: 0, abort_percent: 0 }), { status: 200, body: { delay_ms: 0, abort_percent: 0 } });
    assert.ok((await unary(client, 'ModelInfer', req)).res, 'OK again once the faults are off');

    const bad = await put(s.fault, { delay_ms: 10, burst: 3 });
    assert.equal(bad.status, 400);
    assert.match((bad.body as { error: string }).error, /unknown field 'burst'/);
  } finally {
    client.close();
    await stop(s.child);
    await discovery.close();
  }
});

test('a CLI sidecar without --fault-admin answers 404 on /fault and keeps serving unfaulted', async () => {
  const discovery = await startTestDiscovery();
  const s = await cliSidecar(discovery.grpcPort, []);
  const client = independentClient(s.ports.grpc);
  try {
    const r = await put(s.fault, { abort_percent: 100 });
    assert.equal(r.status, 404);
    assert.match((r.body as { error: string }).error, /--fault-admin/);
    assert.ok((await unary(client, 'ModelInfer', req)).res, 'the refused PUT changed nothing');
  } finally {
    client.close();
    await stop(s.child);
    await discovery.close();
  }
});
