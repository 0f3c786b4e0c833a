import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { Status, internal, unavailable } from '../../../protocol/status';
import { Batch, directSink, type BatchMember, type BatchState } from '../../../sidecar/scheduler/batch';
import type { Tensor } from '../../../protocol/tensor';
import { FakeRequest, assertDoneOnce, rowSums, tensor } from '../../helpers/fake-runner';

const member = (req: FakeRequest): BatchMember => ({ req });
const batchOf = (reqs: FakeRequest[], batching = true) => new Batch('ranker', batching, reqs.map(member), directSink);

/** A request with inputs ids INT64 [rows, w] and mask BOOL [rows, w], plus text BYTES [rows, 1]. */
function seqReq(rows: number, w: number, base: number, outputs?: string[]): FakeRequest {
  const ids = new BigInt64Array(rows * w).map((_, i) => BigInt(base + i));
  const mask = new Uint8Array(rows * w).map((_, i) => (base + i) % 2);
  const text = Array.from({ length: rows }, (_, i) => `t${base + i}`);
  return new FakeRequest({
    rows,
    shapeKey: `${w};${w};1;`,
    outputs,
    inputs: [tensor('ids', 'INT64', [rows, w], ids), tensor('mask', 'BOOL', [rows, w], mask), tensor('text', 'BYTES', [rows, 1], text)],
  });
}

describe('Batch inputs', () => {
  it('concatenates every input along dim 0, exactly, in one tensor per input', () => {
    const reqs = [seqReq(1, 3, 0), seqReq(2, 3, 100), seqReq(1, 3, 200)];
    const b = batchOf(reqs);
    const inputs = b.prepare()!;
    assert.equal(b.rows, 4);
    assert.deepEqual(
      inputs.map((t) => [t.name, t.datatype, t.shape]),
      [
        ['ids', 'INT64', [4, 3]],
        ['mask', 'BOOL', [4, 3]],
        ['text', 'BYTES', [4, 1]],
      ],
    );
    assert.deepEqual([...(inputs[0].data as BigInt64Array)], [0n, 1n, 2n, 100n, 101n, 102n, 103n, 104n, 105n, 200n, 201n, 202n]);
    assert.deepEqual([...(inputs[1].data as Uint8Array)], [0, 1, 0, 0, 1, 0, 1, 0, 1, 0, 1, 0]);
    assert.deepEqual(inputs[2].data, ['t0', 't100', 't101', 't200']);
    assert.ok(inputs[0].data instanceof BigInt64Array);
  });

  it("passes a single request's tensors through with no copy", () => {
    const r = new FakeRequest({ rows: 3 });
    const inputs = batchOf([r]).prepare()!;
    assert.equal(inputs, r.inputs);
    assert.equal(inputs[0].data, r.inputs[0].data);
  });

  it('fails a malformed member alone with INVALID_ARGUMENT and batches the rest', () => {
    const good1 = new FakeRequest({ rows: 1, value: 1 });
    const bad = new FakeRequest({ rows: 2, inputs: [tensor('features', 'FP32', [2, 4], new Float32Array(5))] });
    const otherWidth = new FakeRequest({ rows: 1, width: 3 });
    const good2 = new FakeRequest({ rows: 1, value: 2 });
    const b = batchOf([good1, bad, otherWidth, good2]);
    const inputs = b.prepare()!;
    assert.equal(b.rows, 2);
    assert.deepEqual(inputs[0].shape, [2, 4]);
    for (const r of [bad, otherWidth]) {
      assert.equal(r.result.err?.code, Status.INVALID_ARGUMENT);
      assert.match(r.result.err!.message, /ranker/);
    }
    b.start(0);
    assert.equal(b.complete(rowSums(inputs), 1), true);
    assert.deepEqual([...good1.result.outputs![0].data], [4]);
    assert.deepEqual([...good2.result.outputs![0].data], [8]);
  });
});

describe('Batch outputs', () => {
  it('slices every output per request as subarray views of one buffer', () => {
    const reqs = [new FakeRequest({ rows: 1, value: 1 }), new FakeRequest({ rows: 2, value: 2 }), new FakeRequest({ rows: 1, value: 3 })];
    const b = batchOf(reqs);
    const outputs = rowSums(b.prepare()!);
    b.start(10);
    assert.equal(b.complete(outputs, 12.5), true);
    const buf = (outputs[0].data as Float32Array).buffer;
    const want = [[4], [8, 8], [12]];
    reqs.forEach((r, i) => {
      const out = r.result.outputs![0];
      assert.deepEqual(out.shape, [want[i].length, 1]);
      assert.deepEqual([...out.data], want[i]);
      assert.equal((out.data as Float32Array).buffer, buf, 'a view, not a copy');
    });
    assert.equal((reqs[1].result.outputs![0].data as Float32Array).byteOffset, 4);
    assertDoneOnce(reqs);
  });

  it("honors each request's output subset and order; BYTES outputs are sliced too", () => {
    const a = new FakeRequest({ rows: 1, outputs: ['label'] });
    const b2 = new FakeRequest({ rows: 2 });
    const c = new FakeRequest({ rows: 1, outputs: ['label', 'score'] });
    const batch = batchOf([a, b2, c]);
    batch.prepare();
    batch.start(0);
    const outputs: Tensor[] = [
      tensor('score', 'FP32', [4, 2], new Float32Array([0, 1, 2, 3, 4, 5, 6, 7])),
      tensor('label', 'BYTES', [4], ['w', 'x', 'y', 'z']),
    ];
    assert.equal(batch.complete(outputs, 1), true);
    assert.deepEqual(
      a.result.outputs!.map((t) => [t.name, t.shape, [...t.data]]),
      [['label', [1], ['w']]],
    );
    assert.deepEqual(
      b2.result.outputs!.map((t) => [t.name, t.shape, [...t.data]]),
      [
        ['score', [2, 2], [2, 3, 4, 5]],
        ['label', [2], ['x', 'y']],
      ],
    );
    assert.deepEqual(
      c.result.outputs!.map((t) => [t.name, t.shape, [...t.data]]),
      [
        ['label', [1], ['z']],
        ['score', [1, 2], [6, 7]],
      ],
    );
  });

  const wrong: { name: string; outputs: Tensor[]; want: RegExp }[] = [
    {
      name: 'dim 0 differs from the batch rows',
      outputs: [tensor('score', 'FP32', [3, 1], new Float32Array(3))],
      want: /output 'score'.*\[3,1\].*dim 0 = 4/,
    },
    { name: 'scalar output', outputs: [tensor('score', 'FP32', [], new Float32Array(1))], want: /output 'score'/ },
    {
      name: 'data length disagrees with shape',
      outputs: [tensor('score', 'FP32', [4, 1], new Float32Array(3))],
      want: /output 'score'.*3 elements/,
    },
    {
      name: 'a requested output is missing',
      outputs: [tensor('other', 'FP32', [4, 1], new Float32Array(4))],
      want: /did not return output 'score'/,
    },
  ];
  for (const c of wrong) {
    it(`fails every request with INTERNAL when ${c.name}`, () => {
      const reqs = [new FakeRequest({ rows: 1, outputs: ['score'] }), new FakeRequest({ rows: 3, outputs: ['score'] })];
      const b = batchOf(reqs);
      b.prepare();
      b.start(0);
      assert.equal(b.complete(c.outputs, 1), false);
      assert.equal(b.state, 'failed');
      for (const r of reqs) {
        assert.equal(r.result.err?.code, Status.INTERNAL);
        assert.match(r.result.err!.message, c.want);
        assert.match(r.result.err!.message, /ranker/);
      }
    });
  }

  it('without batching, outputs pass through whole (no dim-0 check)', () => {
    const r = new FakeRequest({ rows: 1 });
    const b = batchOf([r], false);
    b.prepare();
    b.start(0);
    const outputs = [tensor('score', 'FP32', [7], new Float32Array(7))];
    assert.equal(b.complete(outputs, 1), true);
    assert.equal(r.result.outputs![0], outputs[0]);
  });
});

describe('Batch lifecycle', () => {
  it('goes forming → running → done and reports timing', () => {
    const reqs = [new FakeRequest({ arrivedAt: 1 }), new FakeRequest({ arrivedAt: 4 })];
    const b = batchOf(reqs);
    const seen: BatchState[] = [b.state];
    const inputs = b.prepare()!;
    b.start(5);
    seen.push(b.state);
    b.complete(rowSums(inputs), 7);
    seen.push(b.state);
    assert.deepEqual(seen, ['forming', 'running', 'done']);
    assert.deepEqual(
      reqs.map((r) => r.result.timing),
      [
        { queueMs: 4, computeMs: 2, batchRows: 2 },
        { queueMs: 1, computeMs: 2, batchRows: 2 },
      ],
    );
    b.fail(internal('late'), 8); // ignored once done
    assertDoneOnce(reqs);
  });

  it('goes running → failed, and a later complete() is ignored', () => {
    const reqs = [new FakeRequest(), new FakeRequest()];
    const b = batchOf(reqs);
    const inputs = b.prepare()!;
    b.start(0);
    b.fail(unavailable('instance gone'), 3);
    assert.equal(b.state, 'failed');
    assert.equal(b.computeMs, 3);
    assert.equal(b.complete(rowSums(inputs), 4), false);
    for (const r of reqs) assert.equal(r.result.err?.code, Status.UNAVAILABLE);
  });
});
