// stream_routing: per_stream end to end (balancer/front/stream-pinned.ts): a
// client stream goes to one sidecar, as Envoy balances gRPC streams, until
// that sidecar drains or dies (more in balancer-stream-pinned-drain.test.ts). Real processes on loopback: discovery and the balancer in this
// process, two sidecar CLI processes; which sidecar served what comes from
// their /metrics, so every figure crossed the wire.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import * as grpc from '@grpc/grpc-js';
import * as http2 from 'node:http2';
import { frame, MessageReader } from '../../protocol/grpc-wire';
import { encodeFp32Request } from '../../testkit/raw-client';
import type { Balancer } from '../../balancer/balancer';
import type { DiscoveryServer } from '../../discovery/server/server';
import { waitFor } from '../helpers/discovery-fixture';
import { served, startBalancerFleet, stopBalancerFleet, TestConfig, type SidecarProc } from '../helpers/e2e-fixture';
import { features, rawF32, type InferenceClient } from '../helpers/sidecar-fixture';

interface StreamAnswer {
  errorMessage?: string;
  inferResponse: { modelName: string; modelVersion: string; id: string };
}

const request = (id: string, modelName = 'ranker', modelVersion = '') => ({
  modelName,
  modelVersion,
  id,
  inputs: [{ name: 'features', datatype: 'FP32', shape: [1, 256] }],
  rawInputContents: [rawF32(features(1))],
});

/** Opens a ModelStreamInfer stream; `ended` settles with its answers, or rejects with its error. */
function openStream(client: InferenceClient) {
  const stream = (client.ModelStreamInfer as () => grpc.ClientDuplexStream<unknown, StreamAnswer>)();
  const got: StreamAnswer[] = [];
  const ended = new Promise<StreamAnswer[]>((resolve, reject) => {
    stream.on('data', (m: StreamAnswer) => got.push(m));
    stream.on('end', () => resolve(got));
    stream.on('error', reject);
  });
  ended.catch(() => undefined); // awaited by the tests; never unhandled
  return { stream, got, ended };
}

const okCount = async (s: SidecarProc) => (await served(s)).OK ?? 0;

describe('stream_routing: per_stream with real sidecars', () => {
  let discovery: DiscoveryServer;
  let balancer: Balancer;
  let client: InferenceClient;
  const sidecars: SidecarProc[] = [];
  const config = new TestConfig();

  const apply = async (yaml: string): Promise<void> => {
    const v = config.set(yaml);
    await waitFor(() => balancer.configVersion === v, `config version ${v} in the balancer`, 3000);
  };
  const okDeltas = async (fn: () => Promise<unknown>): Promise<number[]> => {
    const before = await Promise.all(sidecars.map(okCount));
    await fn();
    return (await Promise.all(sidecars.map(okCount))).map((n, i) => n - before[i]);
  };

  before(async () => {
    config.set('defaults: { stream_routing: per_stream }\n');
    ({ discovery, balancer, client } = await startBalancerFleet(config, ['a', 'a'], sidecars));
  });

  after(() => stopBalancerFleet({ client, balancer, discovery }, sidecars));

  test('every message of a stream goes to one sidecar, answered in order, and the stream ends OK', async () => {
    let answers: StreamAnswer[] = [];
    const deltas = await okDeltas(async () => {
      const s = openStream(client);
      for (let i = 0; i < 20; i++) s.stream.write(request(`m${i}`));
      s.stream.end();
      answers = await s.ended;
    });
    assert.deepEqual(
      answers.map((a) => a.inferResponse.id),
      Array.from({ length: 20 }, (_, i) => `m${i}`),
    );
    assert.ok(answers.every((a) => (a.errorMessage ?? '') === '' && a.inferResponse.modelName === 'ranker'));
    assert.deepEqual(
      [...deltas].sort((a, b) => a - b),
      [0, 20],
      `one sidecar served all 20 (per sidecar: ${deltas})`,
    );
  });

  test('streams open at once spread over the sidecars (each pick counts the streams in flight)', async () => {
    const streams = Array.from({ length: 8 }, () => openStream(client));
    // Every stream sends before any ends, so each pick sees the others' in-flight slots.
    for (const [i, s] of streams.entries()) s.stream.write(request(`first${i}`));
    await waitFor(() => streams.every((s) => s.got.length === 1), 'a first answer on every stream', 10_000);
    const deltas = await okDeltas(async () => {
      for (const s of streams) {
        for (let i = 0; i < 5; i++) s.stream.write(request(`m${i}`));
        s.stream.end();
      }
      await Promise.all(streams.map((s) => s.ended));
    });
    assert.ok(
      deltas.every((d) => d > 0),
      `both sidecars served streams (per sidecar: ${deltas})`,
    );
    assert.equal(deltas[0] + deltas[1], 40);
  });

  test('a version split applies to the whole stream: messages naming no version are pointed at the chosen one', async () => {
    await apply('defaults: { stream_routing: per_stream }\nmodels: { ranker: { split: { "1": 1, "2": 0 } } }\n');
    const s = openStream(client);
    for (let i = 0; i < 5; i++) s.stream.write(request(`v${i}`));
    s.stream.end();
    const answers = await s.ended;
    // A sidecar asked for no version answers with its newest (2): '1' shows the balancer pointed every message.
    assert.deepEqual(
      answers.map((a) => a.inferResponse.modelVersion),
      ['1', '1', '1', '1', '1'],
    );
    await apply('defaults: { stream_routing: per_stream }\n');
  });

  test('a malformed message before the one that pins the stream is answered once, by the balancer, and not forwarded', async () => {
    const session = http2.connect(`http://127.0.0.1:${balancer.grpcPort}`);
    session.on('error', () => undefined);
    try {
      const st = session.request({
        ':method': 'POST',
        ':path': '/inference.GRPCInferenceService/ModelStreamInfer',
        'content-type': 'application/grpc',
        te: 'trailers',
      });
      const answers: Buffer[] = [];
      const reader = new MessageReader();
      st.on('data', (c: Buffer) => reader.push(c, (m: Buffer) => answers.push(Buffer.from(m)), undefined));
      const closed = new Promise<void>((resolve) => st.on('close', resolve));
      // Field 1 claims 80 bytes and has 1: the balancer cannot read a model name from it. Both go in one DATA frame.
      st.end(Buffer.concat([frame(Buffer.from([0x0a, 0x50, 0x01])), frame(encodeFp32Request('ranker', 'features', 1, 256))]));
      await closed;
      assert.equal(answers.length, 2, `answers: ${answers.length} (a forwarded bad message gets a second one from the sidecar)`);
      const texts = answers.map((a) => a.toString('latin1'));
      assert.equal(texts.filter((t) => t.includes('[INVALID_ARGUMENT]')).length, 1, 'one error answer');
    } finally {
      session.destroy();
    }
  });

  test('a model nobody ever listed ends the stream with NOT_FOUND naming the model', async () => {
    const s = openStream(client);
    s.stream.write(request('x', 'missing'));
    await assert.rejects(s.ended, (e: grpc.ServiceError) => e.code === grpc.status.NOT_FOUND && /unknown model 'missing'/.test(e.details));
  });

  test('per_message (the default) still routes each message: one stream reaches both sidecars', async () => {
    await apply('{}\n');
    const deltas = await okDeltas(async () => {
      const s = openStream(client);
      for (let i = 0; i < 200; i++) s.stream.write(request(`p${i}`));
      s.stream.end();
      assert.equal((await s.ended).length, 200);
    });
    assert.ok(
      deltas.every((d) => d > 0),
      `both sidecars served the stream's messages (per sidecar: ${deltas})`,
    );
    await apply('defaults: { stream_routing: per_stream }\n');
  });

  test('kill -9 of the pinned sidecar with nothing outstanding: the stream goes on on the other sidecar and ends OK', async () => {
    const s = openStream(client);
    const before = await Promise.all(sidecars.map(okCount));
    s.stream.write(request('before'));
    await waitFor(() => s.got.length === 1, 'the first answer', 10_000);
    const now = await Promise.all(sidecars.map(okCount));
    const i = now.findIndex((n, j) => n > before[j]);
    const victim = sidecars[i];
    assert.ok(victim, 'a sidecar answered the first message');
    victim.child.kill('SIGKILL');
    await new Promise<void>((r) => victim.child.once('exit', () => r()));
    const other = sidecars[1 - i];
    const otherBefore = await okCount(other);
    for (let k = 0; k < 5; k++) s.stream.write(request(`after${k}`));
    s.stream.end();
    const answers = await s.ended;
    assert.deepEqual(
      answers.map((a) => [a.inferResponse.id, a.errorMessage ?? '']),
      ['before', 'after0', 'after1', 'after2', 'after3', 'after4'].map((id) => [id, '']),
    );
    assert.equal((await okCount(other)) - otherBefore, 5, 'the other sidecar answered the rest');
  });
});
