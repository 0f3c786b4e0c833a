// The balancer end to end with real processes on loopback: discovery in this
// process, sidecars as CLI processes registering through --discovery, the
// balancer in this process, and a client built from the .proto that speaks
// to it only through the wire.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import * as grpc from '@grpc/grpc-js';
import type { Balancer } from '../../balancer/balancer';
import type { DiscoveryServer } from '../../discovery/server/server';
import { stop } from '../../testkit/processes';
import { waitFor } from '../helpers/discovery-fixture';
import { sidecarProcess, served, startBalancerFleet, stopBalancerFleet, TestConfig, type SidecarProc } from '../helpers/e2e-fixture';
import { features, rawF32, unary, type InferenceClient } from '../helpers/sidecar-fixture';

/** ModelInfer with request metadata; resolves with the response's model and version. */
function inferWith(
  client: InferenceClient,
  req: unknown,
  md: Record<string, string>,
): Promise<{ modelName: string; modelVersion: string }> {
  const meta = new grpc.Metadata();
  for (const [k, v] of Object.entries(md)) meta.set(k, v);
  return new Promise((resolve, reject) => {
    (
      client.ModelInfer as (
        r: unknown,
        m: grpc.Metadata,
        cb: (e: grpc.ServiceError | null, r: { modelName: string; modelVersion: string }) => void,
      ) => void
    )(req, meta, (e, r) => (e ? reject(e) : resolve(r)));
  });
}

const okCount = async (s: SidecarProc) => (await served(s)).OK ?? 0;

function inferRequest(model = 'ranker', version = '', rows = 1) {
  return {
    modelName: model,
    modelVersion: version,
    id: `r-${rows}`,
    inputs: [{ name: 'features', datatype: 'FP32', shape: [rows, 256] }],
    rawInputContents: [rawF32(features(rows))],
  };
}

/** Runs n calls with `concurrency` in flight, every other one without a deadline; returns the errors. */
async function load(
  client: InferenceClient,
  n: number,
  concurrency: number,
  onDone?: (done: number) => void,
): Promise<grpc.ServiceError[]> {
  const errors: grpc.ServiceError[] = [];
  let started = 0;
  let done = 0;
  const worker = async () => {
    while (started < n) {
      started++;
      try {
        // Half the calls carry a deadline (unary upstream calls), half none (messages on shared upstream streams).
        await unary(client, 'ModelInfer', inferRequest(), started % 2 ? { deadline: Date.now() + 10_000 } : {});
      } catch (e) {
        errors.push(e as grpc.ServiceError);
      }
      onDone?.(++done);
    }
  };
  await Promise.all(Array.from({ length: concurrency }, worker));
  return errors;
}

describe('balancer with real sidecars', () => {
  let discovery: DiscoveryServer;
  let balancer: Balancer;
  let client: InferenceClient;
  const sidecars: SidecarProc[] = [];
  const config = new TestConfig();

  before(async () => {
    config.set('{}\n');
    ({ discovery, balancer, client } = await startBalancerFleet(config, ['a', 'a', 'a'], sidecars));
  });

  after(() => stopBalancerFleet({ client, balancer, discovery }, sidecars));

  test('health, metadata and routing by model and version', async () => {
    assert.equal((await unary(client, 'ServerLive', {})).res.live, true);
    assert.equal((await unary(client, 'ServerReady', {})).res.ready, true);
    assert.equal((await unary(client, 'ModelReady', { name: 'ranker', version: '2' })).res.ready, true);
    const meta = (await unary<{ name: string; versions: string[] }>(client, 'ModelMetadata', { name: 'ranker' })).res;
    assert.equal(meta.name, 'ranker');
    assert.deepEqual(meta.versions, ['1', '2']);
    for (const v of ['1', '2', '2', '1']) {
      const { res } = await unary<{ modelName: string; modelVersion: string; id: string }>(client, 'ModelInfer', inferRequest('ranker', v));
      assert.equal(res.modelName, 'ranker');
      assert.equal(res.modelVersion, v);
      assert.equal(res.id, 'r-1', 'the response comes back as the sidecar sent it');
    }
  });

  test('a model nobody ever listed is NOT_FOUND naming it, an unserved version UNAVAILABLE; sidecar errors pass through', async () => {
    await assert.rejects(
      unary(client, 'ModelInfer', inferRequest('no-such-model')),
      (e: grpc.ServiceError) => e.code === grpc.status.NOT_FOUND && /unknown model 'no-such-model'/.test(e.details),
    );
    await assert.rejects(
      unary(client, 'ModelInfer', inferRequest('ranker', '9')),
      (e: grpc.ServiceError) => e.code === grpc.status.UNAVAILABLE && /ranker/.test(e.details) && /'9'/.test(e.details),
    );
    const bad = { ...inferRequest(), inputs: [{ name: 'nope', datatype: 'FP32', shape: [1, 256] }] };
    await assert.rejects(
      unary(client, 'ModelInfer', bad),
      (e: grpc.ServiceError) => e.code === grpc.status.INVALID_ARGUMENT && /nope/.test(e.details),
    );
  });

  test('a 1 ms deadline gives DEADLINE_EXCEEDED (stopped at the balancer, or by the sidecar it propagated to)', async (t) => {
    const before = await Promise.all(sidecars.map(served));
    for (let i = 0; i < 10; i++) {
      await assert.rejects(
        unary(client, 'ModelInfer', inferRequest(), { deadline: Date.now() + 1 }),
        (e: grpc.ServiceError) => e.code === grpc.status.DEADLINE_EXCEEDED,
      );
    }
    // Whether a call still had a fraction of a millisecond left at the balancer is a race; both outcomes are right.
    const after = await Promise.all(sidecars.map(served));
    t.diagnostic(
      `reached sidecars: ${after.map((a, i) => (a.OK ?? 0) + (a.DEADLINE_EXCEEDED ?? 0) - (before[i].OK ?? 0) - (before[i].DEADLINE_EXCEEDED ?? 0)).join(', ')}`,
    );
  });

  test('ModelStreamInfer routes each message and reports errors in-stream', async () => {
    const stream = (
      client.ModelStreamInfer as () => grpc.ClientDuplexStream<
        unknown,
        { errorMessage: string; inferResponse: { modelVersion: string; id: string } }
      >
    )();
    const got: { errorMessage: string; inferResponse: { modelVersion: string; id: string } }[] = [];
    const ended = new Promise<void>((resolve, reject) => {
      stream.on('data', (m) => got.push(m));
      stream.on('end', resolve);
      stream.on('error', reject);
    });
    for (let i = 0; i < 6; i++) stream.write({ ...inferRequest('ranker', i % 2 ? '2' : '1'), id: `s${i}` });
    stream.write({ ...inferRequest('missing'), id: 'bad' });
    stream.end();
    await ended;
    assert.equal(got.length, 7);
    const bad = got.find((m) => m.inferResponse?.id === 'bad');
    assert.match(bad?.errorMessage ?? '', /^\[NOT_FOUND\] unknown model 'missing'/);
    for (const m of got.filter((x) => x.inferResponse.id !== 'bad')) {
      // Proto3 leaves an empty error_message off the wire; the default-options client then shows undefined.
      assert.equal(m.errorMessage ?? '', '');
      assert.equal(m.inferResponse.modelVersion, Number(m.inferResponse.id.slice(1)) % 2 ? '2' : '1');
    }
  });

  test('the routing config from discovery: version split, objectives, live reload', async () => {
    const versions = async (n: number, md: Record<string, string> = {}, req = inferRequest()) =>
      Promise.all(Array.from({ length: n }, () => inferWith(client, req, md).then((r) => `${r.modelName}:${r.modelVersion}`)));
    config.set('models: { ranker: { split: { "1": 0, "2": 1 } } }\nobjectives: { scoring: { model: ranker, version: 1 } }\n');
    const deadline = Date.now() + 3000;
    while ((await versions(1))[0] !== 'ranker:2') assert.ok(Date.now() < deadline, 'the split reached the balancer');
    assert.deepEqual(new Set(await versions(20)), new Set(['ranker:2']), 'a 0/1 split sends every call to version 2');
    // An objective names the use case: the balancer fills in model and version without decoding the request.
    const viaObjective = await versions(5, { objective: 'scoring' }, inferRequest(''));
    assert.deepEqual(new Set(viaObjective), new Set(['ranker:1']));
    await assert.rejects(
      inferWith(client, inferRequest(''), { objective: 'nope' }),
      (e: grpc.ServiceError) => e.code === grpc.status.NOT_FOUND,
    );
    config.set('models: { ranker: { split: { "1": 1, "2": 0 } } }\n');
    const until = Date.now() + 3000;
    while ((await versions(1))[0] !== 'ranker:1') assert.ok(Date.now() < until, 'the reload reached the balancer');
    assert.deepEqual(new Set(await versions(20)), new Set(['ranker:1']), 'the reload flipped the split');
    config.set('{}\n');
  });

  test('kill -9 of one of three sidecars under load: no failed client calls', async (t) => {
    const victim = sidecars[2];
    // Warm up: every sidecar is in rotation (has answered calls) before one dies.
    assert.deepEqual(await load(client, 150, 16), []);
    for (const s of sidecars) assert.ok((await okCount(s)) > 0, `${s.address} served calls before the kill`);
    let killed = false;
    const retriesBefore = balancer.retries;
    const errors = await load(client, 600, 16, (done) => {
      if (done === 150 && !killed) {
        killed = true;
        victim.child.kill('SIGKILL');
      }
    });
    assert.ok(killed);
    t.diagnostic(
      `errors: ${errors.length} ${errors
        .slice(0, 3)
        .map((e) => `${e.code} ${e.details}`)
        .join('; ')}`,
    );
    assert.equal(errors.length, 0);
    t.diagnostic(`retries: ${balancer.retries - retriesBefore}`);
    assert.ok(balancer.retries > retriesBefore, 'calls to the killed sidecar were retried elsewhere');
    sidecars.splice(2, 1);
    await waitFor(() => !balancer.endpoints('ranker').includes(victim.address), 'the killed sidecar left', 5000);
  });

  test('P2C sends far less to a sidecar slowed by fault injection', async (t) => {
    const slow = await sidecarProcess(discovery.grpcPort, ['--fault-delay-ms', '50']);
    sidecars.push(slow);
    await waitFor(() => balancer.endpoints('ranker').includes(slow.address), 'the slow sidecar joined', 30_000);
    // Linkerd's 10 s decay needs ~10 s of traffic before the fast sidecars' estimates fall from the initial
    // 30 ms to their real ~2 ms; a 1 s decay lets this test learn in about a second.
    const v = config.set('models: { ranker: { p2c: { peak_ewma: { decay_ms: 1000 } } } }\n');
    await waitFor(() => balancer.configVersion === v, 'the config reached the balancer', 3000);
    assert.deepEqual(await load(client, 600, 8), []);
    const before = await Promise.all(sidecars.map(okCount));
    const errors = await load(client, 600, 8);
    assert.equal(errors.length, 0);
    const counts = (await Promise.all(sidecars.map(okCount))).map((n, i) => n - before[i]);
    t.diagnostic(`calls per sidecar (fast, fast, slow): ${counts.join(', ')}`);
    const [a, b, s] = counts;
    assert.ok(s * 5 < Math.min(a, b), `slow sidecar got ${s}, fast ones ${a} and ${b}`);
  });

  test('the remaining deadline reaches the sidecar', async () => {
    // Leave only the slow sidecar: it waits 50 ms before queueing, then checks the deadline it was given.
    const slow = sidecars[sidecars.length - 1];
    const fast = sidecars.splice(0, sidecars.length - 1);
    await Promise.all(fast.map((s) => stop(s.child, 3000)));
    await waitFor(() => balancer.endpoints('ranker').join() === slow.address, 'only the slow sidecar left', 5000);
    const before = (await served(slow)).DEADLINE_EXCEEDED ?? 0;
    for (let i = 0; i < 3; i++) {
      await assert.rejects(
        unary(client, 'ModelInfer', inferRequest(), { deadline: Date.now() + 20 }),
        (e: grpc.ServiceError) => e.code === grpc.status.DEADLINE_EXCEEDED,
      );
    }
    const until = Date.now() + 2000;
    while (((await served(slow)).DEADLINE_EXCEEDED ?? 0) - before < 3) {
      assert.ok(Date.now() < until, 'the sidecar saw each 20 ms deadline and gave up on the call');
      await new Promise((r) => setTimeout(r, 20));
    }
    const { res } = await unary<{ modelVersion: string }>(client, 'ModelInfer', inferRequest('ranker', '2'), {
      deadline: Date.now() + 2000,
    });
    assert.equal(res.modelVersion, '2', 'a call with time to spare still succeeds');
  });

  test('close() stops accepting and lets calls in flight finish', async () => {
    // Only the slow sidecar is left: each call takes 50 ms or more, so these are in flight when close() starts.
    const inFlight = Array.from({ length: 8 }, () =>
      unary<{ modelVersion: string }>(client, 'ModelInfer', inferRequest('ranker', '1'), { deadline: Date.now() + 5000 }),
    );
    await new Promise((r) => setTimeout(r, 10));
    const closed = balancer.close();
    const results = await Promise.allSettled(inFlight);
    assert.deepEqual(
      results.map((r) => r.status),
      Array(8).fill('fulfilled'),
    );
    await closed;
    await assert.rejects(
      unary(client, 'ServerLive', {}, { deadline: Date.now() + 1000 }),
      (e: grpc.ServiceError) => e.code === grpc.status.UNAVAILABLE,
    );
  });
});
