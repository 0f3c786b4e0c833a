// The /fault admin's body parser (a table), FaultInjector.set's checks, and
// the handler on an in-process sidecar's metrics port: 400s naming the field,
// 405 for other methods, 404 without --fault-admin, a live change seen by the
// next request.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as grpc from '@grpc/grpc-js';
import { FaultInjector, type FaultConfig } from '../../../sidecar/server/fault';
import { MAX_DELAY_MS, parseFaultUpdate } from '../../../sidecar/server/fault-admin';
import { InferError, Status } from '../../../protocol/status';
import { features, independentClient, rawF32, startTestSidecar, unary } from '../../helpers/sidecar-fixture';

const CURRENT: FaultConfig = { delayMs: 7, abortPercent: 3 };

const accepted: Array<[string, string, FaultConfig]> = [
  ['both fields', '{"delay_ms":200,"abort_percent":50}', { delayMs: 200, abortPercent: 50 }],
  ['delay only keeps abort', '{"delay_ms":0}', { delayMs: 0, abortPercent: 3 }],
  ['abort only keeps delay', '{"abort_percent":100}', { delayMs: 7, abortPercent: 100 }],
  ['fractions', '{"delay_ms":2.5,"abort_percent":0.5}', { delayMs: 2.5, abortPercent: 0.5 }],
  ['the longest delay Node can time', `{"delay_ms":${MAX_DELAY_MS}}`, { delayMs: MAX_DELAY_MS, abortPercent: 3 }],
];

for (const [name, body, want] of accepted) {
  test(`parseFaultUpdate accepts ${name}`, () => assert.deepEqual(parseFaultUpdate(body, CURRENT), want));
}

const rejected: Array<[string, string, RegExp]> = [
  ['not JSON', '{delay_ms:1}', /body is not JSON .*expected \{"delay_ms"/],
  ['empty body', '', /body is not JSON/],
  ['an array', '[1]', /body is an array; expected a JSON object/],
  ['a number', '5', /body is 5; expected a JSON object/],
  ['null', 'null', /body is null; expected a JSON object/],
  ['no field', '{}', /sets nothing; expected delay_ms and\/or abort_percent/],
  ['an unknown field', '{"delay_ms":1,"delayMs":2}', /unknown field 'delayMs'; expected only delay_ms and abort_percent/],
  ['delay as a string', '{"delay_ms":"200"}', /delay_ms: found "200"; expected a number of milliseconds/],
  ['delay null', '{"delay_ms":null}', /delay_ms: found null; expected a number/],
  ['negative delay', '{"delay_ms":-1}', /delay_ms: found -1; expected of milliseconds, 0 to 2147483647/],
  ['delay past Node timers', `{"delay_ms":${MAX_DELAY_MS + 1}}`, /delay_ms: found 2147483648; expected of milliseconds/],
  ['abort over 100', '{"abort_percent":101}', /abort_percent: found 101; expected of percent, 0 to 100/],
  ['abort negative', '{"delay_ms":1,"abort_percent":-0.1}', /abort_percent: found -0.1/],
  ['abort as bool', '{"abort_percent":true}', /abort_percent: found true; expected a number of percent/],
];

for (const [name, body, want] of rejected) {
  test(`parseFaultUpdate rejects ${name} with INVALID_ARGUMENT`, () =>
    assert.throws(
      () => parseFaultUpdate(body, CURRENT),
      (e: unknown) => e instanceof InferError && e.code === Status.INVALID_ARGUMENT && want.test(e.message),
    ));
}

test('FaultInjector.set applies checked settings and keeps the old ones on a RangeError', () => {
  const f = new FaultInjector({ delayMs: 0, abortPercent: 0 }, () => 0);
  assert.equal(f.active, false);
  assert.deepEqual(f.set({ delayMs: 5, abortPercent: 0 }), { delayMs: 0, abortPercent: 0 }, 'returns what it replaced');
  assert.equal(f.active, true);
  assert.throws(() => f.set({ delayMs: 1, abortPercent: 101 }), RangeError);
  assert.throws(() => f.set({ delayMs: -1, abortPercent: 0 }), RangeError);
  assert.throws(() => f.set({ delayMs: Infinity, abortPercent: 0 }), RangeError);
  assert.deepEqual(f.config, { delayMs: 5, abortPercent: 0 });
  f.set({ delayMs: 0, abortPercent: 100 });
  assert.equal(f.abort()?.code, Status.UNAVAILABLE);
});

const req = {
  modelName: 'ranker',
  inputs: [{ name: 'features', datatype: 'FP32', shape: [1, 256] }],
  rawInputContents: [rawF32(features(1))],
};

test('the metrics port serves GET/PUT /fault with --fault-admin, and the next request sees the change', async () => {
  const sidecar = await startTestSidecar({ faultAdmin: true });
  const client = independentClient(sidecar.grpcPort);
  const url = `http://127.0.0.1:${sidecar.metricsPort}/fault`;
  const put = (body: string) => fetch(url, { method: 'PUT', body });
  try {
    assert.deepEqual(await (await fetch(url)).json(), { delay_ms: 0, abort_percent: 0 });
    const r = await put('{"abort_percent":100}');
    assert.equal(r.status, 200);
    assert.deepEqual(await r.json(), { delay_ms: 0, abort_percent: 100 });
    await assert.rejects(unary(client, 'ModelInfer', req), (e: grpc.ServiceError) => e.code === grpc.status.UNAVAILABLE);
    const bad = await put('{"abort_percent":"all"}');
    assert.equal(bad.status, 400);
    assert.match(((await bad.json()) as { error: string }).error, /abort_percent: found "all"/);
    assert.deepEqual(await (await fetch(url)).json(), { delay_ms: 0, abort_percent: 100 }, 'a rejected PUT changes nothing');
    const post = await fetch(url, { method: 'POST', body: '{}' });
    assert.equal(post.status, 405);
    assert.equal(post.headers.get('allow'), 'GET, PUT');
    assert.equal((await put('{"abort_percent":0}')).status, 200);
    assert.ok((await unary(client, 'ModelInfer', req)).res, 'recovered');
  } finally {
    client.close();
    await sidecar.close();
  }
});

test('without --fault-admin /fault answers 404 naming the flag, for GET and PUT alike', async () => {
  const sidecar = await startTestSidecar();
  const url = `http://127.0.0.1:${sidecar.metricsPort}/fault`;
  try {
    for (const init of [{}, { method: 'PUT', body: '{"delay_ms":1000}' }]) {
      const r = await fetch(url, init);
      assert.equal(r.status, 404);
      assert.match(((await r.json()) as { error: string }).error, /start the sidecar with --fault-admin/);
    }
    assert.equal((await fetch(`http://127.0.0.1:${sidecar.metricsPort}/metrics`)).status, 200, 'metrics still served');
  } finally {
    await sidecar.close();
  }
});
