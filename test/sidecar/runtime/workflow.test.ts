import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { silentLogger } from '../../../common/log';
import { InferError, Status } from '../../../protocol/status';
import { FEATURES, MAX_CANDIDATES, recommendFeatures } from '../../../models/recommend/workflow';
import { RANKER_VERSIONS, rankerWeights } from '../../../scripts/gen-models';
import type { ModelConfig } from '../../../sidecar/repository/config-types';
import type { ModelRunner } from '../../../sidecar/scheduler/types';
import { createOnnxRunner } from '../../../sidecar/runtime/session-onnx';
import type { Tensor } from '../../../protocol/tensor';
import { loadWorkflow, workflowCandidates, type WorkflowContext } from '../../../sidecar/runtime/workflow';
import { assertClose, referenceScores } from '../../helpers/reference-mlp';
import { generatedModels, REPO_ROOT, repoConfig, repoModelDir } from '../../helpers/ranker-models';

const LATEST = RANKER_VERSIONS[RANKER_VERSIONS.length - 1];

/** Runs ranker calls on a real ONNX Runtime session of the latest version, recording each call. */
class RankerContext implements WorkflowContext {
  readonly calls: { model: string; version: string | undefined; rows: number }[] = [];
  constructor(private readonly ranker: ModelRunner) {}
  infer(model: string, version: string | undefined, inputs: Tensor[]): Promise<Tensor[]> {
    this.calls.push({ model, version, rows: inputs[0].shape[0] });
    return this.ranker.run(inputs);
  }
}

let repo: ReturnType<typeof generatedModels>;
let ranker: ModelRunner;
let config: ModelConfig;

before(async () => {
  repo = generatedModels();
  ranker = await createOnnxRunner(repo.modelPath(LATEST), { ...(await repoConfig('ranker')), execution_providers: ['cpu'] }, silentLogger);
  config = await repoConfig('recommend');
});
after(async () => {
  await ranker.close();
  repo.remove();
});

/** The recommend workflow as the sidecar loads it (the compiled mirror under dist/). */
async function recommend(): Promise<{ runner: ModelRunner; ctx: RankerContext }> {
  const ctx = new RankerContext(ranker);
  return { runner: await loadWorkflow(repoModelDir('recommend'), config, ctx), ctx };
}

function request(user: bigint, candidates: readonly bigint[]): Tensor[] {
  return [
    { name: 'user_id', datatype: 'INT64', shape: [1], data: BigInt64Array.of(user) },
    { name: 'candidate_ids', datatype: 'INT64', shape: [candidates.length], data: BigInt64Array.from(candidates) },
  ];
}

/** The reference score of every candidate for a user. */
function referenceFor(user: bigint, candidates: readonly bigint[]): Float64Array {
  const features = new Float32Array(candidates.length * FEATURES);
  candidates.forEach((c, i) => recommendFeatures(user, c, features, i * FEATURES));
  return referenceScores(rankerWeights(LATEST), features, candidates.length);
}

const cases: [string, bigint, number][] = [
  ['one candidate', 42n, 1],
  ['fewer than ten', 7n, 5],
  ['exactly ten', -3n, 10],
  ['one ranker batch', 1n << 40n, 37],
  ['several ranker batches', 9_007_199_254_740_993n, 150],
];

for (const [name, user, n] of cases) {
  test(`recommend returns the top min(10, n) by reference score, descending: ${name} (n=${n})`, async () => {
    const candidates = Array.from({ length: n }, (_, i) => BigInt(1000 + 37 * i));
    const { runner, ctx } = await recommend();
    const [ids, scores] = await runner.run(request(user, candidates));
    const k = Math.min(10, n);
    assert.deepEqual([ids.name, ids.datatype, ids.shape], ['item_ids', 'INT64', [k]]);
    assert.deepEqual([scores.name, scores.datatype, scores.shape], ['scores', 'FP32', [k]]);

    const ref = referenceFor(user, candidates);
    const expected = candidates
      .map((c, i) => ({ c, s: ref[i] }))
      .sort((a, b) => b.s - a.s)
      .slice(0, k);
    assert.deepEqual(
      [...(ids.data as BigInt64Array)],
      expected.map((e) => e.c),
    );
    assertClose(
      scores.data as Float32Array,
      expected.map((e) => e.s),
    );
    for (let i = 1; i < k; i++) assert.ok((scores.data as Float32Array)[i - 1] >= (scores.data as Float32Array)[i], 'descending');

    // The latest ranker, in as few calls as its max_batch_size (64) allows.
    assert.deepEqual(
      ctx.calls.map((c) => c.rows),
      Array.from({ length: Math.ceil(n / 64) }, (_, i) => Math.min(64, n - 64 * i)),
    );
    assert.ok(ctx.calls.every((c) => c.model === 'ranker' && c.version === undefined));
  });
}

test('recommend features are deterministic, in [-1, 1), and depend on user and candidate', () => {
  const f = (u: bigint, c: bigint) => {
    const out = new Float32Array(FEATURES);
    recommendFeatures(u, c, out);
    return out;
  };
  assert.deepEqual(f(1n, 2n), f(1n, 2n));
  assert.ok(f(5n, -5n).every((x) => x >= -1 && x < 1));
  assert.deepEqual(f(1n, 2n).subarray(0, 128), f(1n, 3n).subarray(0, 128), 'user half depends only on the user');
  assert.notDeepEqual(f(1n, 2n).subarray(128), f(1n, 3n).subarray(128));
  assert.notDeepEqual(f(1n, 2n).subarray(0, 128), f(2n, 2n).subarray(0, 128));
});

const badInputs: [string, Tensor[], RegExp][] = [
  ['no candidates', request(1n, []), /input 'candidate_ids' has 0 elements; expected 1 to 1024/],
  [
    'too many candidates',
    request(
      1n,
      Array.from({ length: MAX_CANDIDATES + 1 }, (_, i) => BigInt(i)),
    ),
    /input 'candidate_ids' has 1025 elements/,
  ],
  [
    'two users',
    [{ ...request(1n, [2n])[0], shape: [2], data: BigInt64Array.of(1n, 2n) }, request(1n, [2n])[1]],
    /input 'user_id' has 2 elements; expected exactly 1/,
  ],
  ['missing user', [request(1n, [2n])[1]], /input 'user_id' is missing/],
  [
    'wrong datatype',
    [request(1n, [2n])[0], { name: 'candidate_ids', datatype: 'INT32', shape: [1], data: Int32Array.of(2) }],
    /input 'candidate_ids' is INT32; expected INT64/,
  ],
];

for (const [name, inputs, pattern] of badInputs) {
  test(`recommend rejects bad input with INVALID_ARGUMENT naming it: ${name}`, async () => {
    const { runner, ctx } = await recommend();
    await assert.rejects(runner.run(inputs), (e: unknown) => {
      assert.ok(e instanceof InferError);
      assert.equal(e.code, Status.INVALID_ARGUMENT);
      assert.match(e.message, pattern);
      return true;
    });
    assert.equal(ctx.calls.length, 0, 'no ranker call for bad input');
  });
}

test('workflowCandidates tries the .js sibling, then the compiled mirror under dist/', () => {
  assert.deepEqual(workflowCandidates(repoModelDir('recommend'), config), [
    path.join(REPO_ROOT, 'models', 'recommend', 'workflow.js'),
    path.join(REPO_ROOT, 'dist', 'models', 'recommend', 'workflow.js'),
  ]);
  assert.deepEqual(
    workflowCandidates('/srv/models/x', { ...config, workflow: 'flow.ts' }),
    ['/srv/models/x/flow.js'],
    'no mirror outside the package',
  );
});

/** A string as a literal regular-expression fragment. */
const esc = (s: string) => s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');

test('loadWorkflow errors name the module file', async () => {
  const dir = mkdtempSync(path.join(tmpdir(), 'infergate-workflow-'));
  const ctx = new RankerContext(ranker);
  try {
    writeFileSync(path.join(dir, 'empty.js'), 'module.exports = {};\n');
    writeFileSync(path.join(dir, 'broken.js'), 'throw new Error("boom");\n');
    writeFileSync(path.join(dir, 'fails.js'), 'exports.createWorkflow = () => { throw new Error("no ranker"); };\n');
    writeFileSync(path.join(dir, 'notrunner.js'), 'exports.createWorkflow = () => ({});\n');
    const cases: [string, RegExp][] = [
      ['missing.ts', new RegExp(`workflow module of model recommend not found: tried ${esc(path.join(dir, 'missing.js'))}`)],
      ['empty.js', new RegExp(`^${esc(path.join(dir, 'empty.js'))}: a workflow module must export function createWorkflow`)],
      ['broken.js', new RegExp(`^${esc(path.join(dir, 'broken.js'))}: cannot load workflow module of model recommend: boom`)],
      ['fails.js', new RegExp(`^${esc(path.join(dir, 'fails.js'))}: createWorkflow failed for model recommend: no ranker`)],
      ['notrunner.js', new RegExp(`^${esc(path.join(dir, 'notrunner.js'))}: createWorkflow must return a ModelRunner`)],
    ];
    for (const [file, pattern] of cases) {
      await assert.rejects(loadWorkflow(dir, { ...config, workflow: file }, ctx), (e: Error) => {
        assert.match(e.message, pattern, file);
        return true;
      });
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
