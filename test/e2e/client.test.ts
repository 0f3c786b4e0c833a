// The typed client: its wire encoding checked against protobufjs, output
// views and alignment, then both transports end to end (discovery in this
// process, sidecars as CLI processes, the balancer in this process) giving
// the same, numerically right answers, the same error statuses, and streams
// whose out-of-order answers reach the right callers.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { silentLogger } from '../../common/log';
import { Status } from '../../protocol/status';
import { startBalancer, type Balancer } from '../../balancer/balancer';
import type { DiscoveryServer } from '../../discovery/server/server';
import { FEATURES, recommendFeatures } from '../../models/recommend/workflow';
import { RANKER_VERSIONS, rankerWeights } from '../../scripts/gen-models';
import { stop } from '../../testkit/processes';
import { inferenceRoot } from '../../testkit/raw-client';
import { InferenceClient, InferenceError, type InferResult, type NamedInput } from '../../client';
import { outputTensor } from '../../client/tensor';
import { encodeInferRequest } from '../../client/wire';
import { startTestDiscovery, waitFor } from '../helpers/discovery-fixture';
import { sidecarProcess, type SidecarProc } from '../helpers/e2e-fixture';
import { assertClose, randomFeatures, referenceScores } from '../helpers/reference-mlp';

const LATEST = RANKER_VERSIONS[RANKER_VERSIONS.length - 1];

describe('client wire format', () => {
  const encodeCases: [string, NamedInput, (raw: Buffer) => unknown, unknown][] = [
    [
      'FP32 typed array',
      { name: 'x', datatype: 'FP32', shape: [1, 3], data: Float32Array.of(1.5, -2, 3) },
      (b) => [0, 4, 8].map((o) => b.readFloatLE(o)),
      [1.5, -2, 3],
    ],
    [
      'INT64 from plain numbers',
      { name: 'x', datatype: 'INT64', shape: [2], data: [7, -1] },
      (b) => [b.readBigInt64LE(0), b.readBigInt64LE(8)],
      [7n, -1n],
    ],
    ['BOOL from booleans', { name: 'x', datatype: 'BOOL', shape: [3], data: [true, false, true] }, (b) => [...b], [1, 0, 1]],
    [
      'BYTES length-prefixed',
      { name: 'x', datatype: 'BYTES', shape: [2], data: ['ab', Buffer.from('c')] },
      (b) => b.toString('hex'),
      '0200000061620100000063',
    ],
  ];
  for (const [name, input, read, expected] of encodeCases) {
    test(`a request decodes with protobufjs to what was given: ${name}`, () => {
      const bytes = encodeInferRequest({
        model: 'm',
        version: '2',
        id: 'r1',
        parameters: { priority: 1, tenant: 't' },
        inputs: [input],
        outputs: ['y'],
      });
      const T = inferenceRoot().lookupType('inference.ModelInferRequest');
      const msg = T.toObject(T.decode(bytes), { longs: Number }) as Record<string, any>;
      assert.deepEqual([msg.model_name, msg.model_version, msg.id], ['m', '2', 'r1']);
      assert.deepEqual([msg.parameters.priority.int64_param, msg.parameters.tenant.string_param], [1, 't']);
      assert.deepEqual(
        msg.inputs.map((t: any) => [t.name, t.datatype, t.shape]),
        [['x', input.datatype, [...input.shape]]],
      );
      assert.deepEqual(
        msg.outputs.map((o: any) => o.name),
        ['y'],
      );
      assert.deepEqual(read(msg.raw_input_contents[0]), expected);
    });
  }

  const badInputs: [string, NamedInput, RegExp][] = [
    [
      'too few elements',
      { name: 'f', datatype: 'FP32', shape: [1, 4], data: new Float32Array(3) },
      /'f' has 3 elements; its shape \[1, 4\] needs 4/,
    ],
    ['a negative dimension', { name: 'f', datatype: 'FP32', shape: [-1, 4], data: new Float32Array(4) }, /'f' has shape \[-1, 4\]/],
    ['a fraction for INT64', { name: 'i', datatype: 'INT64', shape: [1], data: [1.5] }, /'i' holds a value that cannot be INT64/],
    ['an unknown datatype', { name: 'u', datatype: 'FP8' as 'FP32', shape: [1], data: [1] }, /'u' has datatype 'FP8'/],
  ];
  for (const [name, input, pattern] of badInputs) {
    test(`bad inputs fail with INVALID_ARGUMENT before sending, naming the input: ${name}`, () => {
      assert.throws(
        () => encodeInferRequest({ model: 'm', version: '', id: '', parameters: {}, outputs: [], inputs: [input] }),
        (e: unknown) => e instanceof InferenceError && e.code === Status.INVALID_ARGUMENT && pattern.test(e.details),
      );
    });
  }

  test('outputs are views when aligned and copies when not', () => {
    const backing = Buffer.alloc(4 + 8 + 1);
    for (const [offset, view] of [
      [4, true],
      [1, false],
    ] as const) {
      const raw = backing.subarray(offset, offset + 8);
      raw.writeFloatLE(0.25, 0);
      raw.writeFloatLE(-8, 4);
      const t = outputTensor('y', 'FP32', [2], raw);
      assert.ok(t.datatype === 'FP32');
      assert.deepEqual([...t.data], [0.25, -8]);
      assert.equal(t.data.buffer === backing.buffer, view, `offset ${offset}`);
    }
  });
});

describe('client over the balancer and proxyless', () => {
  let discovery: DiscoveryServer;
  let balancer: Balancer;
  const sidecars: SidecarProc[] = [];
  const modes: Record<string, InferenceClient> = {};

  before(async () => {
    // Nothing here waits on lease expiry: a 3 s lease (the default) rides out a loaded CI machine's stalls, where 1 s
    // once expired both sidecars mid-suite and left the proxyless client without endpoints.
    discovery = await startTestDiscovery({ leaseTtlMs: 3000 });
    for (let i = 0; i < 2; i++) sidecars.push(await sidecarProcess(discovery.grpcPort));
    balancer = await startBalancer({
      discovery: `127.0.0.1:${discovery.grpcPort}`,
      host: '127.0.0.1',
      grpcPort: 0,
      zone: 'a',
      log: silentLogger,
    });
    modes.balancer = new InferenceClient({ address: `127.0.0.1:${balancer.grpcPort}` });
    modes.proxyless = new InferenceClient({ discovery: `127.0.0.1:${discovery.grpcPort}`, zone: 'a' });
    await waitFor(() => balancer.endpoints('ranker').length === 2, 'both sidecars in the balancer', 30_000);
    for (const c of Object.values(modes)) for (const m of ['ranker', 'recommend']) await c.waitForReady(m, { timeoutMs: 10_000 });
  });

  after(async () => {
    for (const c of Object.values(modes)) c.close();
    await balancer?.close();
    await Promise.all(sidecars.map((s) => stop(s.child, 3000)));
    await discovery?.close();
  });

  const rankerInput = (data: Float32Array) =>
    ({ features: { datatype: 'FP32', shape: [data.length / FEATURES, FEATURES], data } }) as const;

  for (const version of RANKER_VERSIONS) {
    test(`ranker v${version}: both modes give the reference scores, as Float32Array [rows, 1]`, async () => {
      const rows = 5;
      const x = randomFeatures(100 + version, rows);
      const reference = referenceScores(rankerWeights(version), x, rows);
      const got: Float32Array[] = [];
      for (const [mode, c] of Object.entries(modes)) {
        const r = await c.infer('ranker', rankerInput(x), { version, id: `v${version}`, deadline: 10_000 });
        assert.deepEqual([r.model, r.version, r.id, r.shape('score')], ['ranker', String(version), `v${version}`, [rows, 1]], mode);
        const score = r.data('score', 'FP32');
        assert.ok(score instanceof Float32Array);
        assertClose(score, reference);
        got.push(score);
      }
      assertClose(got[0], got[1], 1e-6, 1e-6);
    });
  }

  /** The ten candidates with the best reference scores, best first. */
  function referenceTop(user: bigint, candidates: readonly bigint[]): { ids: bigint[]; scores: number[] } {
    const f = new Float32Array(candidates.length * FEATURES);
    candidates.forEach((c, i) => recommendFeatures(user, c, f, i * FEATURES));
    const s = referenceScores(rankerWeights(LATEST), f, candidates.length);
    const top = candidates
      .map((c, i) => ({ c, s: s[i] }))
      .sort((a, b) => b.s - a.s)
      .slice(0, 10);
    return { ids: top.map((t) => t.c), scores: top.map((t) => t.s) };
  }

  function checkRecommend(r: InferResult, user: bigint, candidates: readonly bigint[]): void {
    const expected = referenceTop(user, candidates);
    const ids = r.data('item_ids', 'INT64');
    assert.ok(ids instanceof BigInt64Array);
    assert.deepEqual([...ids], expected.ids);
    assertClose(r.data('scores', 'FP32'), expected.scores);
  }

  for (const mode of ['balancer', 'proxyless']) {
    test(`${mode}: recommend takes INT64 inputs (typed and plain) and returns BigInt64Array ids`, async () => {
      const candidates = Array.from({ length: 40 }, (_, i) => BigInt(5000 + 13 * i));
      const r = await modes[mode].infer('recommend', [
        { name: 'user_id', datatype: 'INT64', shape: [1], data: BigInt64Array.of(1n << 40n) },
        { name: 'candidate_ids', datatype: 'INT64', shape: [candidates.length], data: candidates.map(Number) },
      ]);
      checkRecommend(r, 1n << 40n, candidates);
    });
  }

  const errorCases: [
    string,
    () => [string, Parameters<InferenceClient['infer']>[1], Parameters<InferenceClient['infer']>[2]],
    Status,
    RegExp,
  ][] = [
    ['unknown model', () => ['no-such-model', rankerInput(randomFeatures(1, 1)), {}], Status.NOT_FOUND, /unknown model 'no-such-model'/],
    [
      'bad input name',
      () => ['ranker', { nope: { datatype: 'FP32', shape: [1, 256], data: randomFeatures(1, 1) } }, {}],
      Status.INVALID_ARGUMENT,
      /nope/,
    ],
    ['1 ms deadline', () => ['ranker', rankerInput(randomFeatures(1, 1)), { deadline: 1 }], Status.DEADLINE_EXCEEDED, /./],
    [
      'past Date deadline',
      () => ['ranker', rankerInput(randomFeatures(1, 1)), { deadline: new Date(Date.now() - 1) }],
      Status.DEADLINE_EXCEEDED,
      /./,
    ],
  ];
  for (const mode of ['balancer', 'proxyless']) {
    for (const [name, args, code, pattern] of errorCases) {
      test(`${mode}: ${name} rejects with InferenceError ${Status[code]}`, async () => {
        await assert.rejects(modes[mode].infer(...args()), (e: unknown) => {
          assert.ok(e instanceof InferenceError, String(e));
          assert.deepEqual([e.code, e.codeName], [code, Status[code]]);
          assert.match(e.details, pattern);
          return true;
        });
      });
    }
  }

  for (const mode of ['balancer', 'proxyless']) {
    test(`${mode}: a stream matches 300 concurrent, out-of-order answers to their own calls`, async (t) => {
      const s = modes[mode].stream();
      const order: number[] = [];
      const calls = Array.from({ length: 300 }, (_, i) => {
        // Every tenth a recommend (several ranker calls inside the sidecar): it finishes after later ranker messages.
        if (i % 10 === 0) {
          const cands = [BigInt(i), BigInt(i + 1), BigInt(i + 2), BigInt(i * 7 + 3)];
          return s
            .infer(
              'recommend',
              { user_id: { datatype: 'INT64', shape: [1], data: [i] }, candidate_ids: { datatype: 'INT64', shape: [4], data: cands } },
              { id: `m${i}` },
            )
            .then((r) => (checkRecommend(r, BigInt(i), cands), r));
        }
        const rows = 1 + (i % 3);
        const x = randomFeatures(1000 + i, rows);
        return s
          .infer('ranker', rankerInput(x), { version: 1 + (i % 2), id: `m${i}` })
          .then((r) => (assertClose(r.data('score', 'FP32'), referenceScores(rankerWeights(1 + (i % 2)), x, rows)), r));
      }).map((p, i) =>
        p.then((r) => {
          assert.equal(r.id, `m${i}`);
          order.push(i);
        }),
      );
      const bad = s.infer('missing-model', rankerInput(randomFeatures(1, 1)));
      await Promise.all(calls);
      await assert.rejects(
        bad,
        (e: unknown) => e instanceof InferenceError && e.code === Status.NOT_FOUND && /unknown model 'missing-model'/.test(e.details),
      );
      const inversions = order.filter((v, k) => k > 0 && v < order[k - 1]).length;
      t.diagnostic(`answers out of send order: ${inversions} of ${order.length}`);
      assert.ok(inversions > 0, 'the server answered out of order at least once');
      await s.close();
      await assert.rejects(
        s.infer('ranker', rankerInput(randomFeatures(1, 1))),
        (e: unknown) => e instanceof InferenceError && e.code === Status.FAILED_PRECONDITION,
      );
    });
  }

  test('an aborted call rejects with CANCELLED', async () => {
    const ac = new AbortController();
    const p = modes.proxyless.infer('ranker', rankerInput(randomFeatures(1, 1)), { signal: ac.signal });
    ac.abort();
    await assert.rejects(p, (e: unknown) => e instanceof InferenceError && e.code === Status.CANCELLED);
  });
});
