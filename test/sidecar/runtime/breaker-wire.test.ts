// Breakers over the wire: a model whose executions fail opens its breaker;
// calls then fail fast with UNAVAILABLE, ModelReady turns false and the
// metrics say open; after the reset timeout a good call closes it again.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, mkdirSync, rmSync, writeFileSync } from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import * as grpc from '@grpc/grpc-js';
import { independentClient, startTestSidecar, unary } from '../../helpers/sidecar-fixture';

/** A repository with one workflow model that fails whenever its input is negative. */
function flakyRepo(): string {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'infergate-flaky-'));
  mkdirSync(path.join(dir, 'flaky'));
  writeFileSync(
    path.join(dir, 'flaky', 'config.yaml'),
    [
      'platform: workflow',
      'workflow: workflow.ts',
      'max_batch_size: 0',
      'inputs: [{ name: x, datatype: INT32, dims: [1] }]',
      'outputs: [{ name: y, datatype: INT32, dims: [1] }]',
      'breaker: { timeout_ms: 1000, error_threshold_percentage: 50, volume_threshold: 3, reset_timeout_ms: 300, rolling_window_ms: 10000 }',
    ].join('\n'),
  );
  // Shipped pre-compiled: the loader takes the .js beside config.yaml.
  writeFileSync(
    path.join(dir, 'flaky', 'workflow.js'),
    `
    exports.createWorkflow = () => ({
      async run(inputs) {
        if (inputs[0].data[0] < 0) throw new Error('device lost');
        return [{ name: 'y', datatype: 'INT32', shape: [1], data: inputs[0].data }];
      },
      async close() {},
    });`,
  );
  return dir;
}

const call = (x: number) => ({
  modelName: 'flaky',
  inputs: [{ name: 'x', datatype: 'INT32', shape: [1], contents: { intContents: [x] } }],
});

test('failing executions open the breaker; it fails fast, reports not ready, and recovers', async () => {
  const repo = flakyRepo();
  const sidecar = await startTestSidecar({ modelsDir: repo });
  const client = independentClient(sidecar.grpcPort);
  const metric = async () =>
    (await (await fetch(`http://127.0.0.1:${sidecar.metricsPort}/metrics`)).text()).match(
      /infergate_sidecar_breaker_state\{model="flaky",version="1",instance="0"\} (\d)/,
    )?.[1];
  try {
    const ok = await unary<{ rawOutputContents: Buffer[] }>(client, 'ModelInfer', call(5));
    assert.equal(ok.res.rawOutputContents[0].readInt32LE(0), 5);
    assert.equal(await metric(), '0');
    const codes: number[] = [];
    for (let i = 0; i < 6; i++) {
      const err = await unary(client, 'ModelInfer', call(-1)).then(
        () => undefined,
        (e: grpc.ServiceError) => e,
      );
      codes.push(err!.code);
    }
    // Failures while closed are INTERNAL (the model's error); once open, UNAVAILABLE without running it.
    assert.equal(codes[0], grpc.status.INTERNAL);
    assert.equal(codes[codes.length - 1], grpc.status.UNAVAILABLE);
    const open = await unary(client, 'ModelInfer', call(5)).then(
      () => undefined,
      (e: grpc.ServiceError) => e,
    );
    assert.equal(open?.code, grpc.status.UNAVAILABLE, 'even good requests fail fast while open');
    assert.match(open!.details, /circuit open|breaker/);
    assert.deepEqual((await unary(client, 'ModelReady', { name: 'flaky' })).res, { ready: false });
    assert.equal(await metric(), '2');
    await new Promise((r) => setTimeout(r, 400)); // past reset_timeout_ms: half-open
    const probe = await unary<{ rawOutputContents: Buffer[] }>(client, 'ModelInfer', call(7));
    assert.equal(probe.res.rawOutputContents[0].readInt32LE(0), 7);
    assert.deepEqual((await unary(client, 'ModelReady', { name: 'flaky' })).res, { ready: true });
    assert.equal(await metric(), '0');
  } finally {
    client.close();
    await sidecar.close();
    rmSync(repo, { recursive: true, force: true });
  }
});
