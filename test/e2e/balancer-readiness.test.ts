// Readiness and the answers for models without endpoints, end to end: a
// discovery in this process, two CLI sidecars serving one model each
// (`ranker` and `scorer`, copies of the bundled ranker), a balancer in this
// process. Stopping the only sidecar serving `scorer` must leave the balancer
// ready (it still routes `ranker`), ModelReady false for `scorer` and for a
// model nobody ever listed, and calls for the two answered differently:
// UNAVAILABLE (retryable) for the known `scorer`, NOT_FOUND for the unknown
// one, over gRPC unary and streams and over REST.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import * as grpc from '@grpc/grpc-js';
import { startBalancer, type Balancer } from '../../balancer/balancer';
import type { DiscoveryServer } from '../../discovery/server/server';
import { stop, waitReady } from '../../testkit/processes';
import { captureLogger } from '../helpers/capture-log';
import { startTestDiscovery, waitFor } from '../helpers/discovery-fixture';
import { rankerRepoAs, repoSidecar, TestConfig, type SidecarProc } from '../helpers/e2e-fixture';
import { features, independentClient, rawF32, unary, type InferenceClient } from '../helpers/sidecar-fixture';

const inferRequest = (modelName: string, id = 'r') => ({
  modelName,
  id,
  inputs: [{ name: 'features', datatype: 'FP32', shape: [1, 256] }],
  rawInputContents: [rawF32(features(1))],
});
const restBody = { inputs: [{ name: 'features', shape: [1, 256], datatype: 'FP32', data: Array.from(features(1)) }] };

interface StreamAnswer {
  errorMessage?: string;
  inferResponse: { modelName: string; id: string };
}

/** Writes the requests on one ModelStreamInfer stream, half-closes it, and resolves with its answers or rejects with its status. */
function streamCall(client: InferenceClient, requests: unknown[]): Promise<StreamAnswer[]> {
  const stream = (client.ModelStreamInfer as () => grpc.ClientDuplexStream<unknown, StreamAnswer>)();
  const got: StreamAnswer[] = [];
  return new Promise((resolve, reject) => {
    stream.on('data', (m: StreamAnswer) => got.push(m));
    stream.on('end', () => resolve(got));
    stream.on('error', reject);
    for (const r of requests) stream.write(r);
    stream.end();
  });
}

/** ModelReady's answer; rejects when the call fails. The independent client leaves a false bool (proto3's default) undefined. */
const modelReady = async (client: InferenceClient, name: string): Promise<boolean> =>
  (await unary<{ ready?: boolean }>(client, 'ModelReady', { name })).res.ready ?? false;

const grpcCode = (code: grpc.status, msg: RegExp) => (e: grpc.ServiceError) => {
  assert.equal(grpc.status[e.code], grpc.status[code], e.details);
  assert.match(e.details, msg);
  return true;
};

describe('balancer readiness when one of two models loses its endpoints', () => {
  const repos = [rankerRepoAs('ranker'), rankerRepoAs('scorer')];
  const config = new TestConfig();
  const log = captureLogger();
  let discovery: DiscoveryServer;
  let balancer: Balancer;
  let client: InferenceClient;
  let rest: string;
  let ops: string;
  const sidecars: SidecarProc[] = [];

  before(async () => {
    config.set('{}\n');
    discovery = await startTestDiscovery({ leaseTtlMs: 1000, config });
    for (const r of repos) sidecars.push(await repoSidecar(r.dir, discovery.grpcPort));
    balancer = await startBalancer({
      discovery: `127.0.0.1:${discovery.grpcPort}`,
      host: '127.0.0.1',
      grpcPort: 0,
      httpPort: 0,
      metricsPort: 0,
      zone: '',
      log,
    });
    client = independentClient(balancer.grpcPort);
    rest = `http://127.0.0.1:${balancer.httpPort}`;
    ops = `http://127.0.0.1:${balancer.metricsPort}`;
    await waitFor(
      () => balancer.endpoints('ranker').length === 1 && balancer.endpoints('scorer').length === 1,
      'both sidecars in the balancer',
      30_000,
    );
  });

  after(async () => {
    client?.close();
    await balancer?.close();
    await Promise.all(sidecars.map((s) => stop(s.child, 3000)));
    await discovery?.close();
    for (const r of repos) r.remove();
  });

  test('with both sidecars up, the balancer and both models are ready', async () => {
    assert.equal((await unary(client, 'ServerReady', {})).res.ready, true);
    for (const name of ['ranker', 'scorer']) assert.equal((await unary(client, 'ModelReady', { name })).res.ready, true, name);
    assert.equal(await modelReady(client, 'nope'), false, 'an unknown model is not ready, not an error');
    assert.equal((await fetch(`${rest}/v2/models/scorer/ready`)).status, 200);
    assert.equal((await fetch(`${rest}/v2/models/nope/ready`)).status, 400);
  });

  test("stopping scorer's only sidecar leaves the balancer ready, logged once per change and no readiness flip", async () => {
    log.lines.length = 0;
    await stop(sidecars[1].child, 5000);
    await waitFor(() => balancer.endpoints('scorer').length === 0, 'scorer left the balancer', 10_000);
    assert.equal((await unary(client, 'ServerReady', {})).res.ready, true);
    assert.equal((await fetch(`${rest}/v2/health/ready`)).status, 200);
    assert.equal((await fetch(`${ops}/readyz`)).status, 200);
    const events = log.lines.map((l) => `${String(l.fields.event)} ${String(l.fields.model ?? '')}`);
    assert.deepEqual(
      events.filter((e) => e.startsWith('endpoint_')),
      ['endpoint_draining scorer', 'endpoint_removed scorer'],
    );
    assert.ok(!events.some((e) => e.startsWith('readiness')), `no readiness flip: ${events.join('; ')}`);
    const removed = log.lines.find((l) => l.fields.event === 'endpoint_removed')!;
    assert.equal(removed.fields.address, sidecars[1].address);
    assert.equal(removed.fields.reason, 'discovery removed it');
  });

  test('ModelReady is false, not an error, for the known model without endpoints and for an unknown one (gRPC, REST 400)', async () => {
    for (const name of ['scorer', 'nope']) {
      assert.equal(await modelReady(client, name), false, name);
      const r = await fetch(`${rest}/v2/models/${name}/ready`);
      assert.equal(r.status, 400, name);
      const body = (await r.json()) as { ready: boolean; error: string };
      assert.equal(body.ready, false);
      assert.match(body.error, new RegExp(`model '${name}' is not ready`));
    }
    assert.equal((await unary(client, 'ModelReady', { name: 'ranker' })).res.ready, true);
    assert.equal((await fetch(`${rest}/v2/models/ranker/ready`)).status, 200);
  });

  test('ModelInfer and ModelMetadata: UNAVAILABLE for the known model, NOT_FOUND for an unknown one, naming each', async () => {
    await assert.rejects(
      unary(client, 'ModelInfer', inferRequest('scorer')),
      grpcCode(grpc.status.UNAVAILABLE, /no endpoint serves model 'scorer' now/),
    );
    await assert.rejects(unary(client, 'ModelInfer', inferRequest('nope')), grpcCode(grpc.status.NOT_FOUND, /unknown model 'nope'/));
    await assert.rejects(unary(client, 'ModelMetadata', { name: 'scorer' }), grpcCode(grpc.status.UNAVAILABLE, /'scorer'/));
    await assert.rejects(unary(client, 'ModelMetadata', { name: 'nope' }), grpcCode(grpc.status.NOT_FOUND, /unknown model 'nope'/));
    const cases: Array<[method: string, path: string, status: number, msg: RegExp]> = [
      ['POST', '/v2/models/scorer/infer', 503, /no endpoint serves model 'scorer' now/],
      ['POST', '/v2/models/nope/infer', 404, /unknown model 'nope'/],
      ['GET', '/v2/models/scorer', 503, /'scorer'/],
      ['GET', '/v2/models/nope', 404, /unknown model 'nope'/],
    ];
    for (const [method, path, status, msg] of cases) {
      const r = await fetch(`${rest}${path}`, { method, body: method === 'POST' ? JSON.stringify(restBody) : undefined });
      const body = (await r.json()) as { error: string };
      assert.equal(r.status, status, `${method} ${path}: ${body.error}`);
      assert.match(body.error, msg, `${method} ${path}`);
    }
    const ok = await unary<{ modelName: string }>(client, 'ModelInfer', inferRequest('ranker'));
    assert.equal(ok.res.modelName, 'ranker', 'the other model still serves');
  });

  test('per_message streams answer each message with its own status; per_stream streams end with it', async () => {
    const answers = await streamCall(client, [inferRequest('ranker', 'a'), inferRequest('scorer', 'b'), inferRequest('nope', 'c')]);
    const byId = new Map(answers.map((a) => [a.inferResponse.id, a.errorMessage]));
    assert.equal(byId.get('a') ?? '', '', 'ranker answered');
    assert.ok(byId.has('a'));
    assert.match(byId.get('b') ?? '', /^\[UNAVAILABLE\] no endpoint serves model 'scorer' now/);
    assert.match(byId.get('c') ?? '', /^\[NOT_FOUND\] unknown model 'nope'/);

    const v = config.set('defaults: { stream_routing: per_stream }\n');
    await waitFor(() => balancer.configVersion === v, 'the per_stream config in the balancer', 5000);
    await assert.rejects(streamCall(client, [inferRequest('scorer')]), grpcCode(grpc.status.UNAVAILABLE, /'scorer'/));
    await assert.rejects(streamCall(client, [inferRequest('nope')]), grpcCode(grpc.status.NOT_FOUND, /unknown model 'nope'/));
    assert.equal((await streamCall(client, [inferRequest('ranker', 'p')])).length, 1);
  });

  test('the balancer turns unready only when no model is left; its ops port says so', async () => {
    log.lines.length = 0;
    await stop(sidecars[0].child, 5000);
    await waitFor(() => balancer.endpoints('ranker').length === 0, 'ranker left the balancer', 10_000);
    assert.equal((await unary(client, 'ServerReady', {})).res.ready, false);
    assert.equal((await fetch(`${ops}/readyz`)).status, 503);
    const flips = log.lines.filter((l) => l.fields.event === 'readiness');
    assert.deepEqual(
      flips.map((l) => l.msg),
      ['balancer not ready'],
    );
    await waitReady(`${ops}/healthz`);
  });
});
