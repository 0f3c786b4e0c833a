// Fault injection, deadlines and the queue timeout over the wire, and a
// graceful drain of a real sidecar process on SIGTERM.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as grpc from '@grpc/grpc-js';
import { freePort, startCli, stop, waitReady } from '../../../testkit/processes';
import { features, independentClient, MODELS, rawF32, startTestSidecar, unary } from '../../helpers/sidecar-fixture';

const req = (params: Record<string, unknown> = {}) => ({
  modelName: 'ranker',
  parameters: params,
  inputs: [{ name: 'features', datatype: 'FP32', shape: [1, 256] }],
  rawInputContents: [rawF32(features(1))],
});

test('fault abort fails requests with UNAVAILABLE before they queue', async () => {
  const sidecar = await startTestSidecar({ fault: { delayMs: 0, abortPercent: 100 } });
  const client = independentClient(sidecar.grpcPort);
  try {
    await assert.rejects(unary(client, 'ModelInfer', req()), (e: grpc.ServiceError) => {
      assert.equal(e.code, grpc.status.UNAVAILABLE);
      assert.match(e.details, /fault injected/);
      return true;
    });
    assert.deepEqual((await unary(client, 'ServerLive', {})).res, { live: true }, 'health RPCs are not faulted');
  } finally {
    client.close();
    await sidecar.close();
  }
});

test('a request whose timeout passes during the injected delay gets DEADLINE_EXCEEDED from the sidecar', async () => {
  const sidecar = await startTestSidecar({ fault: { delayMs: 100, abortPercent: 0 } });
  const client = independentClient(sidecar.grpcPort);
  try {
    // timeout is in microseconds (Triton); 20 ms < the 100 ms delay.
    await assert.rejects(unary(client, 'ModelInfer', req({ timeout: { int64Param: 20_000 } })), (e: grpc.ServiceError) => {
      assert.equal(e.code, grpc.status.DEADLINE_EXCEEDED);
      assert.match(e.details, /deadline passed before model 'ranker'/);
      return true;
    });
    const ok = await unary(client, 'ModelInfer', req());
    assert.ok(ok.res, 'without a short deadline the delayed request succeeds');
  } finally {
    client.close();
    await sidecar.close();
  }
});

test('SIGTERM drains: in-flight requests finish and the process exits 0', async () => {
  const [g, h, m] = [await freePort(), await freePort(), await freePort()];
  const child = startCli([
    'sidecar',
    '--models',
    MODELS,
    '--host',
    '127.0.0.1',
    '--grpc-port',
    String(g),
    '--http-port',
    String(h),
    '--metrics-port',
    String(m),
    '--fault-delay-ms',
    '300',
  ]);
  try {
    await waitReady(`http://127.0.0.1:${h}/v2/health/ready`);
    const client = independentClient(g);
    const inflight = Array.from({ length: 10 }, () => unary(client, 'ModelInfer', req()));
    await new Promise((r) => setTimeout(r, 100));
    const code = stop(child);
    const results = await Promise.allSettled(inflight);
    assert.deepEqual(
      results.map((r) => r.status),
      Array(10).fill('fulfilled'),
      'every accepted request completes',
    );
    assert.equal(await code, 0);
    client.close();
  } finally {
    if (child.exitCode === null) child.kill('SIGKILL');
  }
});
