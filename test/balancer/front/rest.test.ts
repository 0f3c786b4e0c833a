// The balancer's REST face with real processes on loopback: discovery in this
// process, sidecars as CLI processes, the balancer in this process; REST
// answers are checked against the same calls over gRPC and the reference MLP.
// The last tests run the handler in process, over a fake router, to see what
// it hands the router and what it does when the client leaves.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import type { ChildProcess } from 'node:child_process';
import * as http from 'node:http';
import type { AddressInfo } from 'node:net';
import { systemClock } from '../../../common/clock';
import { silentLogger } from '../../../common/log';
import { startBalancer, type Balancer } from '../../../balancer/balancer';
import { Clusters } from '../../../balancer/routing/clusters';
import { Router } from '../../../balancer/routing/router';
import type { RouteCall } from '../../../balancer/routing/route-call';
import { balancerRestHandler } from '../../../balancer/front/rest';
import { UpstreamPools } from '../../../balancer/upstream/pool';
import { parseRoutingConfig } from '../../../routing-config/parse';
import type { RoutingConfigSource } from '../../../routing-config/source';
import type { DiscoveryServer } from '../../../discovery/server/server';
import { rankerWeights } from '../../../scripts/gen-models';
import { freePort, sidecarArgs, startCli, stop } from '../../../testkit/processes';
import { startTestDiscovery, waitFor } from '../../helpers/discovery-fixture';
import { assertClose, referenceScores } from '../../helpers/reference-mlp';
import { features, independentClient, MODELS, rawF32, unary, type InferenceClient } from '../../helpers/sidecar-fixture';

/** A routing config of the balancer's own (as --config gives) that never changes. */
function fixedConfig(yaml: string): RoutingConfigSource {
  const config = parseRoutingConfig(yaml, 'test.yaml');
  const snap = { version: 1, config, json: JSON.stringify(config) };
  return { current: () => snap, onChange: () => () => undefined, reload: async () => false, close: () => undefined };
}

interface Answer {
  status: number;
  headers: Headers;
  body: Record<string, unknown> & { error?: string };
}

/** One REST call; the body may be an object (sent as JSON) or a raw string. */
async function rest(base: string, method: string, path: string, body?: unknown, headers: Record<string, string> = {}): Promise<Answer> {
  const r = await fetch(`${base}${path}`, {
    method,
    headers,
    body: body === undefined ? undefined : typeof body === 'string' ? body : JSON.stringify(body),
  });
  return { status: r.status, headers: r.headers, body: (await r.json()) as Answer['body'] };
}

const rankerBody = (rows: number, nested = false) => {
  const f = Array.from(features(rows));
  const data = nested ? Array.from({ length: rows }, (_, r) => f.slice(r * 256, (r + 1) * 256)) : f;
  return { id: `rest-${rows}`, inputs: [{ name: 'features', shape: [rows, 256], datatype: 'FP32', data }] };
};

type Output = { name: string; datatype: string; shape: number[]; data: number[] };

describe('balancer REST with real sidecars', () => {
  let discovery: DiscoveryServer;
  let balancer: Balancer;
  let base: string;
  let balancerGrpc: InferenceClient;
  let sidecarGrpc: InferenceClient;
  const sidecars: ChildProcess[] = [];

  before(async () => {
    discovery = await startTestDiscovery({ leaseTtlMs: 1000 });
    let firstGrpcPort = 0;
    for (let i = 0; i < 2; i++) {
      const [g, h, m] = [await freePort(), await freePort(), await freePort()];
      firstGrpcPort ||= g;
      sidecars.push(startCli(sidecarArgs(MODELS, { grpc: g, http: h, metrics: m }, discovery.grpcPort, ['--drain-timeout-ms', '1000'])));
    }
    balancer = await startBalancer({
      discovery: `127.0.0.1:${discovery.grpcPort}`,
      host: '127.0.0.1',
      grpcPort: 0,
      httpPort: 0,
      zone: '',
      log: silentLogger,
      config: fixedConfig('objectives: { pinned: { model: ranker, version: 2 } }\n'),
    });
    base = `http://127.0.0.1:${balancer.httpPort}`;
    balancerGrpc = independentClient(balancer.grpcPort);
    sidecarGrpc = independentClient(firstGrpcPort);
    await waitFor(
      () => balancer.endpoints('ranker').length === 2 && balancer.endpoints('recommend').length === 2,
      'both sidecars in the balancer',
      30_000,
    ).catch((e: Error) => {
      throw new Error(`${e.message}; sidecar exit codes ${sidecars.map((c) => c.exitCode).join(', ')}`);
    });
  });

  after(async () => {
    balancerGrpc?.close();
    sidecarGrpc?.close();
    await balancer?.close();
    await Promise.all(sidecars.map((c) => stop(c, 3000)));
    await discovery?.close();
  });

  test('health, readiness and metadata routes answer as the gRPC face does', async () => {
    const grpcMeta = (await unary(balancerGrpc, 'ServerMetadata', {})).res;
    const featuresMeta = { name: 'features', datatype: 'FP32', shape: [-1, 256] };
    const cases: Array<[path: string, status: number, expect: Record<string, unknown>]> = [
      ['/v2/health/live', 200, { live: true }],
      ['/v2/health/ready', 200, { ready: true }],
      ['/v2', 200, { name: grpcMeta.name, version: grpcMeta.version, extensions: grpcMeta.extensions }],
      ['/v2/models/ranker', 200, { name: 'ranker', versions: ['1', '2'], platform: 'onnxruntime_onnx', inputs: [featuresMeta] }],
      ['/v2/models/ranker/versions/2', 200, { name: 'ranker', versions: ['2'] }],
      ['/v2/models/recommend', 200, { name: 'recommend', platform: 'infergate_workflow' }],
      ['/v2/models/ranker/ready', 200, { name: 'ranker', ready: true }],
      ['/v2/models/ranker/versions/1/ready', 200, { name: 'ranker', ready: true }],
    ];
    assert.equal(grpcMeta.name, 'infergate-balancer');
    for (const [path, status, expect] of cases) {
      const r = await rest(base, 'GET', path);
      assert.equal(r.status, status, path);
      for (const [k, v] of Object.entries(expect)) assert.deepEqual(r.body[k], v, `${path} ${k}`);
    }
  });

  test('ranker scores through balancer REST equal a sidecar over gRPC and the reference MLP', async () => {
    const rows = 3;
    for (const version of ['1', '2']) {
      const grpcReq = {
        modelName: 'ranker',
        modelVersion: version,
        inputs: [{ name: 'features', datatype: 'FP32', shape: [rows, 256] }],
        rawInputContents: [rawF32(features(rows))],
      };
      const raw = (await unary<{ rawOutputContents: Buffer[] }>(sidecarGrpc, 'ModelInfer', grpcReq)).res.rawOutputContents[0];
      const direct = new Float32Array(raw.buffer.slice(raw.byteOffset, raw.byteOffset + raw.byteLength));
      const reference = referenceScores(rankerWeights(Number(version)), features(rows), rows);
      for (const nested of [false, true]) {
        const r = await rest(base, 'POST', `/v2/models/ranker/versions/${version}/infer`, rankerBody(rows, nested));
        assert.equal(r.status, 200, JSON.stringify(r.body));
        assert.equal(r.body.model_name, 'ranker');
        assert.equal(r.body.model_version, version, 'the version in the path is honoured');
        assert.equal(r.body.id, `rest-${rows}`);
        const [out] = r.body.outputs as Output[];
        assert.deepEqual(
          { name: out.name, datatype: out.datatype, shape: out.shape },
          { name: 'score', datatype: 'FP32', shape: [rows, 1] },
        );
        out.data.forEach((s, i) => assert.ok(Math.abs(s - direct[i]) <= 1e-5, `v${version} row ${i}: REST ${s} vs gRPC ${direct[i]}`));
        assertClose(out.data, reference);
      }
    }
  });

  test('the recommend workflow answers via REST with the top ten ids by descending score', async () => {
    const r = await rest(base, 'POST', '/v2/models/recommend/infer', {
      inputs: [
        { name: 'user_id', shape: [1], datatype: 'INT64', data: [42] },
        { name: 'candidate_ids', shape: [12], datatype: 'INT64', data: [1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12] },
      ],
    });
    assert.equal(r.status, 200, JSON.stringify(r.body));
    const out = r.body.outputs as Output[];
    const ids = out.find((o) => o.name === 'item_ids')!;
    const scores = out.find((o) => o.name === 'scores')!.data;
    assert.equal(ids.datatype, 'INT64');
    assert.equal(ids.data.length, 10);
    assert.ok(
      ids.data.every((id) => id >= 1 && id <= 12),
      'ids come from the candidates',
    );
    for (let i = 1; i < scores.length; i++) assert.ok(scores[i - 1] >= scores[i], 'scores descend');
  });

  test('an objective header routes as objective metadata does over gRPC', async () => {
    const r = await rest(base, 'POST', '/v2/models/ranker/infer', rankerBody(1), { objective: 'pinned' });
    assert.equal(r.status, 200, JSON.stringify(r.body));
    assert.equal(r.body.model_version, '2');
  });

  test('errors are JSON with the HTTP status of the gRPC status, naming what was wrong', async () => {
    const wrongInput = { inputs: [{ name: 'nope', shape: [1, 256], datatype: 'FP32', data: Array(256).fill(0) }] };
    const cases: Array<[method: string, path: string, body: unknown, headers: Record<string, string>, status: number, msg: RegExp]> = [
      ['POST', '/v2/models/ranker/infer', '{"inputs": [', {}, 400, /not valid JSON/],
      ['POST', '/v2/models/ranker/infer', { inputs: 'x' }, {}, 400, /"inputs" must be an array/],
      ['POST', '/v2/models/ranker/infer', { ...rankerBody(1), parameters: { tag: { a: 1 } } }, {}, 400, /parameter 'tag'/],
      ['POST', '/v2/models/ranker/infer', wrongInput, {}, 400, /unexpected input 'nope'/],
      [
        'POST',
        '/v2/models/ranker/infer',
        { inputs: [{ name: 'features', shape: [1, 256], datatype: 'FP32', data: [1, 2, 3] }] },
        {},
        400,
        /holds 3 elements; shape \[1,256\] needs 256/,
      ],
      ['POST', '/v2/models/no-such-model/infer', rankerBody(1), {}, 404, /unknown model 'no-such-model'/],
      ['POST', '/v2/models/ranker/versions/9/infer', rankerBody(1), {}, 503, /'9'/],
      ['GET', '/v2/models/no-such-model', undefined, {}, 404, /unknown model 'no-such-model'/],
      ['GET', '/v2/models/no-such-model/ready', undefined, {}, 400, /model 'no-such-model' is not ready: unknown model/],
      ['GET', '/v2/models/ranker/versions/9/ready', undefined, {}, 400, /version '9'/],
      ['POST', '/v2/models/ranker/infer', rankerBody(1), { objective: 'nope' }, 404, /unknown objective 'nope'/],
      ['GET', '/v2/models/%zz', undefined, {}, 400, /percent-encoding/],
      ['GET', '/v2/models/ranker/stats', undefined, {}, 501, /per sidecar/],
      ['GET', '/nowhere', undefined, {}, 404, /no route for GET \/nowhere; routes: GET \/v2\/health\/live/],
      ['GET', '/v2/models/ranker/infer', undefined, {}, 405, /use POST/],
      ['POST', '/v2/health/live', '', {}, 405, /use GET/],
      ['DELETE', '/v2/models/ranker', undefined, {}, 405, /DELETE is not allowed/],
    ];
    for (const [method, path, body, headers, status, msg] of cases) {
      const r = await rest(base, method, path, body, headers);
      assert.equal(r.status, status, `${method} ${path}: ${r.body.error}`);
      assert.match(r.body.error ?? '', msg, `${method} ${path}`);
      if (status === 405) assert.ok(r.headers.get('allow'), `${method} ${path} lists the allowed methods`);
    }
  });
});

describe('balancer REST handler over a fake router', () => {
  let server: http.Server;
  let base: string;
  let routed: RouteCall[] = [];
  let cancelled = 0;
  // Never answers, so only a cancel ends the call.
  const router = {
    infer: (c: RouteCall) => {
      routed.push(c);
      return () => cancelled++;
    },
  } as unknown as Router;
  const clusters = new Clusters(new UpstreamPools(1), '', systemClock, silentLogger);

  before(async () => {
    server = http.createServer(balancerRestHandler({ router, clusters, clock: systemClock, maxBodyBytes: 16_384 }));
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  });

  after(() => new Promise<void>((resolve) => server.close(() => resolve())));

  test('a body over the limit gets 413, by content-length or as it streams', async () => {
    const big = JSON.stringify({ inputs: [], pad: 'x'.repeat(20_000) });
    assert.equal((await rest(base, 'POST', '/v2/models/ranker/infer', big)).status, 413);
    const chunked = new ReadableStream({ start: (c) => (c.enqueue(new TextEncoder().encode(big)), c.close()) });
    const r = await fetch(`${base}/v2/models/ranker/infer`, { method: 'POST', body: chunked, duplex: 'half' } as RequestInit);
    assert.equal(r.status, 413);
    assert.match(((await r.json()) as { error: string }).error, /exceeds 16384 bytes/);
    assert.equal(routed.length, 0, 'nothing was routed');
  });

  test('the routed call carries path, headers as metadata and no deadline; a client that hangs up cancels it', async () => {
    routed = [];
    const req = http.request(`${base}/v2/models/ranker/versions/2/infer`, {
      method: 'POST',
      headers: { 'x-tenant-id': 't-7', objective: 'pinned', 'content-type': 'application/json' },
    });
    req.on('error', () => undefined);
    req.end(JSON.stringify(rankerBody(1)));
    await waitFor(() => routed.length === 1, 'the call to reach the router');
    const c = routed[0];
    assert.deepEqual([c.model, c.version, c.objective, c.deadline], ['ranker', '2', 'pinned', Infinity]);
    assert.deepEqual(c.metadata.get('x-tenant-id'), ['t-7'], 'shard keys reach the router as metadata');
    assert.deepEqual(c.metadata.get('content-type'), [], 'hop-by-hop headers are dropped');
    assert.equal(cancelled, 0);
    req.destroy();
    await waitFor(() => cancelled === 1, 'the routed call to be cancelled');
  });
});
