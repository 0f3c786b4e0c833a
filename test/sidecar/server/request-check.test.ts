import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Status } from '../../../protocol/status';
import { checkInputs, checkOutputs, resolveDeadline, resolvePriority } from '../../../sidecar/server/request-check';
import type { DecodedInput } from '../../../protocol/decoded-request';
import { rankerConfig, seqConfig } from '../../helpers/configs';

const f32 = (n: number) => new Float32Array(n);
const feat = (shape: number[], n = shape.reduce((a, b) => a * b, 1)): DecodedInput => ({
  name: 'features',
  datatype: 'FP32',
  shape,
  data: f32(n),
});

test('checkInputs rejects bad input with INVALID_ARGUMENT naming the problem', () => {
  const cases: { name: string; inputs: DecodedInput[]; want: RegExp }[] = [
    { name: 'missing input', inputs: [], want: /missing input 'features'.*FP32 \[-1,4\]/ },
    {
      name: 'unknown input',
      inputs: [feat([1, 4]), { name: 'x', datatype: 'FP32', shape: [1], data: f32(1) }],
      want: /unexpected input 'x'.*expected inputs: features/,
    },
    { name: 'duplicate input', inputs: [feat([1, 4]), feat([1, 4])], want: /'features' appears more than once/ },
    { name: 'wrong datatype', inputs: [{ ...feat([1, 4]), datatype: 'FP64' }], want: /datatype FP64; expected FP32/ },
    { name: 'wrong rank', inputs: [feat([4])], want: /shape \[4\]; expected \[-1,4\]/ },
    { name: 'wrong dim', inputs: [feat([1, 5])], want: /shape \[1,5\]; expected \[-1,4\]/ },
    { name: 'batch over max', inputs: [feat([9, 4])], want: /batch size 9; model 'ranker' accepts 1 to 8/ },
    { name: 'zero batch', inputs: [feat([0, 4], 0)], want: /batch size 0/ },
    { name: 'data length', inputs: [feat([2, 4], 7)], want: /holds 7 elements; shape \[2,4\] needs 8/ },
  ];
  for (const c of cases) {
    assert.throws(
      () => checkInputs(rankerConfig(), c.inputs),
      (e: { code: number; message: string }) => {
        assert.equal(e.code, Status.INVALID_ARGUMENT, c.name);
        assert.match(e.message, c.want, c.name);
        return true;
      },
    );
  }
});

test('checkInputs orders inputs by config and keys batches by non-batch dims', () => {
  const cfg = seqConfig();
  const ids = { name: 'ids', datatype: 'INT64', shape: [2, 3], data: new BigInt64Array(6) };
  const mask = { name: 'mask', datatype: 'BOOL', shape: [2, 3], data: new Uint8Array(6) };
  const a = checkInputs(cfg, [mask, ids]);
  assert.deepEqual(
    a.inputs.map((t) => t.name),
    ['ids', 'mask'],
  );
  assert.equal(a.batchSize, 2);
  const b = checkInputs(cfg, [
    { ...ids, shape: [1, 5], data: new BigInt64Array(5) },
    { ...mask, shape: [1, 5], data: new Uint8Array(5) },
  ]);
  assert.notEqual(a.shapeKey, b.shapeKey, 'different sequence lengths never share a batch');
  assert.throws(() => checkInputs(cfg, [ids, { ...mask, shape: [1, 3], data: new Uint8Array(3) }]), /batch size 1 but input 'ids' has 2/);
});

test('checkInputs without batching keeps the full shape', () => {
  const cfg = rankerConfig({ max_batch_size: 0, dynamic_batching: undefined });
  const r = checkInputs(cfg, [feat([4])]);
  assert.equal(r.batchSize, 1);
  assert.throws(() => checkInputs(cfg, [feat([1, 4])]), /expected \[4\]/);
});

test('checkOutputs', () => {
  assert.equal(checkOutputs(rankerConfig(), []), undefined);
  assert.deepEqual(checkOutputs(rankerConfig(), ['score']), ['score']);
  assert.throws(() => checkOutputs(rankerConfig(), ['nope']), /requested output 'nope' does not exist; model 'ranker' has outputs: score/);
  assert.throws(() => checkOutputs(rankerConfig(), ['score', 'score']), /more than once/);
});

test('resolvePriority follows Triton: 0 = default level, 1..levels, else INVALID_ARGUMENT', () => {
  const cfg = rankerConfig();
  const table: [number | undefined, number | RegExp][] = [
    [undefined, 2],
    [0, 2],
    [1, 1],
    [2, 2],
    [3, /priority levels 1 to 2/],
    [-1, /priority/],
    [1.5, /priority/],
  ];
  for (const [p, want] of table) {
    if (typeof want === 'number') assert.equal(resolvePriority(cfg, p), want, `priority ${p}`);
    else assert.throws(() => resolvePriority(cfg, p), want);
  }
});

test('resolveDeadline: caller deadline, default timeout, and override rules', () => {
  const withDefault = (allow: boolean) =>
    rankerConfig({
      dynamic_batching: { ...rankerConfig().dynamic_batching!, default_timeout_microseconds: 10_000, allow_timeout_override: allow },
    });
  const now = 100;
  const table: { name: string; cfg: ReturnType<typeof rankerConfig>; caller: number; timeoutUs?: number; want: number }[] = [
    { name: 'nothing set', cfg: rankerConfig(), caller: Infinity, want: Infinity },
    { name: 'caller only', cfg: rankerConfig(), caller: 150, want: 150 },
    { name: 'request timeout, no default', cfg: rankerConfig(), caller: Infinity, timeoutUs: 5000, want: 105 },
    { name: 'default applies', cfg: withDefault(false), caller: Infinity, want: 110 },
    { name: 'shorter override allowed', cfg: withDefault(true), caller: Infinity, timeoutUs: 2000, want: 102 },
    { name: 'override not allowed', cfg: withDefault(false), caller: Infinity, timeoutUs: 2000, want: 110 },
    { name: 'longer override ignored', cfg: withDefault(true), caller: Infinity, timeoutUs: 50_000, want: 110 },
    { name: 'caller earlier than queue timeout', cfg: withDefault(true), caller: 101, want: 101 },
  ];
  for (const c of table) assert.equal(resolveDeadline(c.cfg, now, c.caller, c.timeoutUs), c.want, c.name);
  assert.throws(() => resolveDeadline(rankerConfig(), now, Infinity, -1), /non-negative/);
});
