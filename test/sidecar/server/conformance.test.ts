// Protocol conformance of a real sidecar over loopback, through a client
// built independently from the .proto files (see helpers/sidecar-fixture.ts).
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import * as grpc from '@grpc/grpc-js';
import { decodeLoadReport, ORCA_TRAILER } from '../../../protocol/load-report';
import type { Sidecar } from '../../../sidecar/sidecar';
import { features, independentClient, rawF32, startTestSidecar, unary, type InferenceClient } from '../../helpers/sidecar-fixture';

let sidecar: Sidecar;
let client: InferenceClient;
let rest: string;

before(async () => {
  sidecar = await startTestSidecar();
  client = independentClient(sidecar.grpcPort);
  rest = `http://127.0.0.1:${sidecar.httpPort}`;
});

after(async () => {
  client.close();
  await sidecar.close();
});

const rankerReq = (rows: number, version = '', seed = 7) => ({
  modelName: 'ranker',
  modelVersion: version,
  id: `r${rows}`,
  inputs: [{ name: 'features', datatype: 'FP32', shape: [rows, 256] }],
  rawInputContents: [rawF32(features(rows, 256, seed))],
});

const scores = (res: { rawOutputContents: Buffer[] }) => {
  const b = res.rawOutputContents[0];
  return Array.from(new Float32Array(b.buffer.slice(b.byteOffset, b.byteOffset + b.byteLength)));
};

test('health and metadata RPCs', async () => {
  assert.deepEqual((await unary(client, 'ServerLive', {})).res, { live: true });
  assert.deepEqual((await unary(client, 'ServerReady', {})).res, { ready: true });
  assert.deepEqual((await unary(client, 'ModelReady', { name: 'ranker', version: '2' })).res, { ready: true });
  assert.deepEqual((await unary(client, 'ModelReady', { name: 'nope' })).res, { ready: false });
  const meta = (await unary<{ extensions: string[] }>(client, 'ServerMetadata', {})).res;
  assert.ok(meta.extensions.includes('model_stream_infer'));
  const mm = (
    await unary<{ versions: string[]; inputs: { name: string; datatype: string; shape: { toNumber(): number }[] }[] }>(
      client,
      'ModelMetadata',
      { name: 'ranker' },
    )
  ).res;
  assert.deepEqual(mm.versions, ['1', '2']);
  assert.equal(mm.inputs[0].name, 'features');
  assert.equal(mm.inputs[0].datatype, 'FP32');
  assert.deepEqual(
    mm.inputs[0].shape.map((d) => Number(d)),
    [-1, 256],
  );
});

test('ModelInfer with raw_input_contents returns one score per row and a load report', async () => {
  const { res, trailers } = await unary<{
    modelName: string;
    modelVersion: string;
    id: string;
    outputs: { name: string; shape: unknown[] }[];
    rawOutputContents: Buffer[];
  }>(client, 'ModelInfer', rankerReq(3));
  assert.equal(res.modelName, 'ranker');
  assert.equal(res.modelVersion, '2', 'no version means the latest');
  assert.equal(res.id, 'r3');
  assert.equal(res.outputs[0].name, 'score');
  assert.deepEqual(res.outputs[0].shape.map(Number), [3, 1]);
  assert.equal(scores(res).length, 3);
  const report = decodeLoadReport(trailers.get(ORCA_TRAILER)[0] as Buffer);
  assert.ok(report, 'ORCA load report in the trailer');
  assert.ok('queue_depth' in report!.named_metrics! && 'in_flight' in report!.named_metrics!);
});

test('typed contents and raw contents give the same scores; versions differ', async () => {
  const raw = scores((await unary<{ rawOutputContents: Buffer[] }>(client, 'ModelInfer', rankerReq(2, '1'))).res);
  const typed = scores(
    (
      await unary<{ rawOutputContents: Buffer[] }>(client, 'ModelInfer', {
        modelName: 'ranker',
        modelVersion: '1',
        inputs: [{ name: 'features', datatype: 'FP32', shape: [2, 256], contents: { fp32Contents: Array.from(features(2)) } }],
      })
    ).res,
  );
  assert.deepEqual(typed, raw);
  const v2 = scores((await unary<{ rawOutputContents: Buffer[] }>(client, 'ModelInfer', rankerReq(2, '2'))).res);
  assert.notDeepEqual(v2, raw);
});

test('a batch of rows scores the same as each row alone', async () => {
  const all = scores((await unary<{ rawOutputContents: Buffer[] }>(client, 'ModelInfer', rankerReq(4))).res);
  const rows = features(4);
  const single = await Promise.all(
    [0, 1, 2, 3].map(async (i) => {
      const req = {
        modelName: 'ranker',
        inputs: [{ name: 'features', datatype: 'FP32', shape: [1, 256] }],
        rawInputContents: [rawF32(rows.subarray(i * 256, (i + 1) * 256))],
      };
      return scores((await unary<{ rawOutputContents: Buffer[] }>(client, 'ModelInfer', req)).res)[0];
    }),
  );
  for (let i = 0; i < 4; i++) assert.ok(Math.abs(all[i] - single[i]) < 1e-5, `row ${i}: ${all[i]} vs ${single[i]}`);
});

test('bad requests get precise statuses and messages', async () => {
  const table: { name: string; req: unknown; code: grpc.status; msg: RegExp }[] = [
    {
      name: 'unknown model',
      req: { ...rankerReq(1), modelName: 'nope' },
      code: grpc.status.NOT_FOUND,
      msg: /model 'nope' is not served here; served models: ranker, recommend/,
    },
    { name: 'unknown version', req: rankerReq(1, '9'), code: grpc.status.NOT_FOUND, msg: /no version '9'; served versions: 1, 2/ },
    { name: 'empty model name', req: { ...rankerReq(1), modelName: '' }, code: grpc.status.INVALID_ARGUMENT, msg: /model_name is empty/ },
    {
      name: 'wrong width',
      req: { ...rankerReq(1), inputs: [{ name: 'features', datatype: 'FP32', shape: [1, 255] }], rawInputContents: [Buffer.alloc(1020)] },
      code: grpc.status.INVALID_ARGUMENT,
      msg: /shape \[1,255\]; expected \[-1,256\]/,
    },
    {
      name: 'short raw',
      req: { ...rankerReq(1), rawInputContents: [Buffer.alloc(12)] },
      code: grpc.status.INVALID_ARGUMENT,
      msg: /has 12 bytes; expected 1024/,
    },
    {
      name: 'wrong datatype',
      req: { ...rankerReq(1), inputs: [{ name: 'features', datatype: 'FP64', shape: [1, 256] }], rawInputContents: [Buffer.alloc(2048)] },
      code: grpc.status.INVALID_ARGUMENT,
      msg: /datatype FP64; expected FP32/,
    },
    { name: 'over max batch', req: rankerReq(65), code: grpc.status.INVALID_ARGUMENT, msg: /batch size 65/ },
    {
      name: 'bad priority',
      req: { ...rankerReq(1), parameters: { priority: { int64Param: 7 } } },
      code: grpc.status.INVALID_ARGUMENT,
      msg: /parameter 'priority' is 7/,
    },
  ];
  for (const c of table) {
    await assert.rejects(unary(client, 'ModelInfer', c.req), (e: grpc.ServiceError) => {
      assert.equal(e.code, c.code, `${c.name}: ${e.message}`);
      assert.match(e.details, c.msg, c.name);
      return true;
    });
  }
});

test('ModelStreamInfer answers every request by id; a bad one does not disturb the rest', async () => {
  const stream = (
    client.ModelStreamInfer as () => grpc.ClientDuplexStream<unknown, { errorMessage: string; inferResponse: { id: string } }>
  )();
  const got = new Map<string, string>();
  const done = new Promise<void>((resolve, reject) => {
    stream.on('data', (m) => got.set(m.inferResponse.id, m.errorMessage));
    stream.on('end', resolve);
    stream.on('error', reject);
  });
  for (let i = 0; i < 40; i++) {
    const req =
      i === 13
        ? {
            ...rankerReq(1),
            id: 'bad',
            inputs: [{ name: 'features', datatype: 'FP32', shape: [1, 3] }],
            rawInputContents: [Buffer.alloc(12)],
          }
        : { ...rankerReq(1, '', i), id: `s${i}` };
    stream.write(req);
  }
  stream.end();
  await done;
  assert.equal(got.size, 40);
  assert.match(got.get('bad')!, /\[INVALID_ARGUMENT\].*shape \[1,3\]/);
  for (const [id, err] of got) if (id !== 'bad') assert.equal(err, '', id);
});

test('REST: health, metadata, infer with flat and nested data, JSON errors', async () => {
  assert.equal((await fetch(`${rest}/v2/health/live`)).status, 200);
  assert.equal((await fetch(`${rest}/v2/health/ready`)).status, 200);
  assert.equal((await fetch(`${rest}/v2/models/ranker/versions/1/ready`)).status, 200);
  const meta = (await (await fetch(`${rest}/v2/models/ranker`)).json()) as { versions: string[] };
  assert.deepEqual(meta.versions, ['1', '2']);
  const f = Array.from(features(2));
  const flat = await fetch(`${rest}/v2/models/ranker/versions/1/infer`, {
    method: 'POST',
    body: JSON.stringify({ id: 'j', inputs: [{ name: 'features', shape: [2, 256], datatype: 'FP32', data: f }] }),
  });
  assert.equal(flat.status, 200);
  const fb = (await flat.json()) as { id: string; outputs: { data: number[]; shape: number[] }[] };
  assert.equal(fb.id, 'j');
  assert.deepEqual(fb.outputs[0].shape, [2, 1]);
  const nested = await fetch(`${rest}/v2/models/ranker/versions/1/infer`, {
    method: 'POST',
    body: JSON.stringify({ inputs: [{ name: 'features', shape: [2, 256], datatype: 'FP32', data: [f.slice(0, 256), f.slice(256)] }] }),
  });
  assert.deepEqual(((await nested.json()) as typeof fb).outputs[0].data, fb.outputs[0].data);
  const grpcScores = scores((await unary<{ rawOutputContents: Buffer[] }>(client, 'ModelInfer', rankerReq(2, '1'))).res);
  for (let i = 0; i < 2; i++) assert.ok(Math.abs(fb.outputs[0].data[i] - grpcScores[i]) < 1e-6, 'REST and gRPC agree');
  const errors: [string, string, unknown, number, RegExp][] = [
    ['POST', '/v2/models/nope/infer', { inputs: [] }, 404, /model 'nope' is not served/],
    [
      'POST',
      '/v2/models/ranker/infer',
      { inputs: [{ name: 'features', shape: [1, 2], datatype: 'FP32', data: [1, 2] }] },
      400,
      /shape \[1,2\]/,
    ],
    ['POST', '/v2/models/ranker/infer', 'not json', 400, /not valid JSON/],
    ['GET', '/v2/models/ranker/versions/5', undefined, 404, /no version '5'/],
    ['GET', '/nowhere', undefined, 404, /no route/],
  ];
  for (const [method, path, body, status, msg] of errors) {
    const r = await fetch(`${rest}${path}`, {
      method,
      body: body === undefined ? undefined : typeof body === 'string' ? body : JSON.stringify(body),
    });
    assert.equal(r.status, status, path);
    assert.match(((await r.json()) as { error: string }).error, msg, path);
  }
});

test('the recommend workflow answers over REST with top-k ids', async () => {
  const r = await fetch(`${rest}/v2/models/recommend/infer`, {
    method: 'POST',
    body: JSON.stringify({
      inputs: [
        { name: 'user_id', shape: [1], datatype: 'INT64', data: [42] },
        { name: 'candidate_ids', shape: [12], datatype: 'INT64', data: [1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12] },
      ],
    }),
  });
  assert.equal(r.status, 200);
  const body = (await r.json()) as { outputs: { name: string; data: number[] }[] };
  const ids = body.outputs.find((o) => o.name === 'item_ids')!.data;
  const sc = body.outputs.find((o) => o.name === 'scores')!.data;
  assert.equal(ids.length, 10);
  for (let i = 1; i < sc.length; i++) assert.ok(sc[i - 1] >= sc[i], 'scores descend');
});

test('statistics and metrics count what was served', async () => {
  const { res } = await unary<{
    modelStats: { version: string; inferenceCount: { toNumber(): number }; executionCount: { toNumber(): number } }[];
  }>(client, 'ModelStatistics', { name: 'ranker', version: '1' });
  assert.equal(res.modelStats.length, 1);
  assert.ok(Number(res.modelStats[0].inferenceCount) >= Number(res.modelStats[0].executionCount));
  assert.ok(Number(res.modelStats[0].executionCount) > 0);
  const text = await (await fetch(`http://127.0.0.1:${sidecar.metricsPort}/metrics`)).text();
  assert.match(text, /infergate_sidecar_requests_total\{model="ranker",version="1",status="OK"\} \d+/);
  assert.match(text, /infergate_sidecar_batch_size_bucket/);
  assert.match(text, /infergate_sidecar_queue_depth\{model="ranker",version="2"\} 0/);
  assert.match(text, /infergate_sidecar_breaker_state/);
});
