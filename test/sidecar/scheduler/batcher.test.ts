import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { Status, unavailable } from '../../../protocol/status';
import { DynamicBatcher } from '../../../sidecar/scheduler/batcher';
import type { DynamicBatchingConfig, ModelConfig } from '../../../sidecar/repository/config-types';
import type { SchedulerObserver } from '../../../sidecar/scheduler/types';
import { rankerConfig } from '../../helpers/configs';
import { FakeClock } from '../../helpers/fake-clock';
import { FakeRequest, FakeRunner, assertDoneOnce, flush, type FakeRequestOptions } from '../../helpers/fake-runner';

interface SetupOptions {
  db?: Partial<DynamicBatchingConfig>;
  cfg?: Partial<ModelConfig>;
  runners?: FakeRunner[];
}

/** A batcher over the ranker config (max 8, preferred [4, 8], delay 1 ms, queue 16, 2 levels) and fake runners. */
function setup(o: SetupOptions = {}) {
  const base = rankerConfig();
  const config: ModelConfig = { ...base, ...o.cfg, dynamic_batching: { ...base.dynamic_batching!, ...o.db } };
  const clock = new FakeClock();
  const runners = o.runners ?? [new FakeRunner()];
  const batches: [requests: number, rows: number, computeMs: number, ok: boolean][] = [];
  const rejected: string[] = [];
  const observer: SchedulerObserver = {
    onBatch: (n, rows, ms, ok) => batches.push([n, rows, ms, ok]),
    onRejected: (reason) => rejected.push(reason),
  };
  const b = new DynamicBatcher({ config, instances: runners, clock, observer });
  const reqs: FakeRequest[] = [];
  const log: string[] = [];
  const submit = (opts: FakeRequestOptions = {}): FakeRequest => {
    const r = new FakeRequest({ arrivedAt: clock.now(), priority: 2, log, ...opts });
    reqs.push(r);
    b.submit(r);
    return r;
  };
  const submitN = (n: number, opts: FakeRequestOptions = {}) => Array.from({ length: n }, () => submit(opts));
  return { clock, runners, runner: runners[0], b, submit, submitN, reqs, batches, rejected, log };
}

/** Completes every waiting execution, in turn, until none is left. */
async function finishAll(runners: FakeRunner[]): Promise<void> {
  await flush();
  for (let busy = true; busy;) {
    busy = false;
    for (const r of runners) {
      while (r.waiting() > 0) {
        r.resolveNext();
        busy = true;
        await flush();
      }
    }
  }
}

/** The value of every element of a run's first input: tells which requests were batched. */
const valuesOf = (r: FakeRunner, call: number) => [...new Set(r.calls[call][0].data as Float32Array)];

describe('DynamicBatcher', () => {
  it('forms a batch and sends it when the max queue delay expires', async () => {
    const t = setup({ db: { preferred_batch_size: [] } });
    const rs = [t.submit({ value: 1 }), t.submit({ value: 2 }), t.submit({ value: 3 })];
    assert.equal(t.runner.calls.length, 0);
    assert.equal(t.b.queueDepth(), 3);
    t.clock.advance(0.5);
    assert.equal(t.runner.calls.length, 0, 'not before the delay');
    t.clock.advance(0.5);
    assert.deepEqual(t.runner.rows(), [3]);
    await flush();
    assert.deepEqual(
      rs.map((r) => r.result.outputs![0].data[0]),
      [4, 8, 12],
    );
    assert.deepEqual(rs[0].result.timing, { queueMs: 1, computeMs: 0, batchRows: 3 });
    assert.deepEqual(t.batches, [[3, 3, 0, true]]);
    assert.equal(t.clock.pending(), 0, 'no timer left behind');
    assertDoneOnce(t.reqs);
  });

  it('sends a preferred batch size at once, without waiting', async () => {
    const t = setup();
    t.submitN(4);
    assert.deepEqual(t.runner.rows(), [4]);
    await flush();
    assertDoneOnce(t.reqs);
  });

  it('sends at once when rows reach max_batch_size, then batches the rest', async () => {
    const t = setup({ db: { preferred_batch_size: [] }, runners: [new FakeRunner('manual')] });
    t.submitN(10);
    assert.deepEqual(t.runner.rows(), [8]);
    t.clock.advance(1);
    t.runner.resolveNext();
    await flush();
    assert.deepEqual(t.runner.rows(), [8, 2], 'the rest waited its delay while the instance was busy');
    await finishAll(t.runners);
    assertDoneOnce(t.reqs);
  });

  it('measures queue and compute time per request', async () => {
    const t = setup({ runners: [new FakeRunner('manual')] });
    const first = t.submit();
    t.clock.advance(0.25);
    t.submitN(3);
    t.clock.advance(3);
    t.runner.resolveNext();
    await flush();
    assert.deepEqual(first.result.timing, { queueMs: 0.25, computeMs: 3, batchRows: 4 });
    assert.deepEqual(t.reqs[1].result.timing, { queueMs: 0, computeMs: 3, batchRows: 4 });
    assert.deepEqual(t.batches, [[4, 4, 3, true]]);
  });

  it('rejects with RESOURCE_EXHAUSTED at once when the queue is full', async () => {
    const t = setup({ runners: [new FakeRunner('manual')] });
    t.submitN(4); // running
    t.submitN(16); // queued: max_queue_size 16
    assert.equal(t.b.queueDepth(), 16);
    const over = t.submit();
    assert.equal(over.result.err?.code, Status.RESOURCE_EXHAUSTED);
    assert.match(over.result.err!.message, /'ranker'.*max_queue_size 16/);
    assert.deepEqual(t.rejected, ['queue_full']);
    await finishAll(t.runners);
    assertDoneOnce(t.reqs);
  });

  it('fails a queued request with DEADLINE_EXCEEDED when its deadline passes while waiting', async () => {
    const t = setup({ runners: [new FakeRunner('manual')] });
    t.submitN(4); // keeps the instance busy
    const late = t.submit({ deadline: t.clock.now() + 5 });
    t.clock.advance(4.5);
    assert.equal(late.calls.length, 0);
    t.clock.advance(0.5);
    assert.equal(late.result.err?.code, Status.DEADLINE_EXCEEDED);
    assert.match(late.result.err!.message, /'ranker'.*waited 5\.0 ms/);
    assert.deepEqual(t.rejected, ['deadline']);
    await finishAll(t.runners);
    assert.equal(t.runner.calls.length, 1, 'the expired request never ran');
    assertDoneOnce(t.reqs);
  });

  it('drops expired requests before forming a batch', async () => {
    const t = setup({ db: { preferred_batch_size: [] } });
    const keep = t.submit({ value: 1 });
    const drop = t.submit({ value: 2, deadline: t.clock.now() + 1 });
    const already = t.submit({ value: 3, deadline: t.clock.now() });
    assert.equal(already.result.err?.code, Status.DEADLINE_EXCEEDED);
    t.clock.advance(1); // the batch delay and drop's deadline fall together
    assert.equal(drop.result.err?.code, Status.DEADLINE_EXCEEDED);
    assert.deepEqual(valuesOf(t.runner, 0), [1]);
    await flush();
    assert.equal(keep.result.err, null);
    assertDoneOnce(t.reqs);
  });

  it('runs higher priority first, FIFO within a level', async () => {
    const t = setup({
      db: { preferred_batch_size: [], max_queue_delay_microseconds: 0 },
      cfg: { max_batch_size: 2 },
      runners: [new FakeRunner('manual')],
    });
    t.submit({ value: 5 }); // blocker, runs alone
    t.submit({ value: 1, priority: 2 });
    t.submit({ value: 2, priority: 2 });
    t.submit({ value: 8, priority: 1 });
    t.submit({ value: 9, priority: 1 });
    t.submit({ value: 3, priority: 2 });
    await finishAll(t.runners);
    assert.deepEqual(
      [0, 1, 2, 3].map((i) => valuesOf(t.runner, i)),
      [[5], [8, 9], [1, 2], [3]],
    );
    assertDoneOnce(t.reqs);
  });

  it('never mixes shapes in one batch', async () => {
    const t = setup({ db: { preferred_batch_size: [] } });
    const xs = [
      t.submit({ width: 4, value: 1 }),
      t.submit({ width: 2, value: 2 }),
      t.submit({ width: 4, value: 3 }),
      t.submit({ width: 2, value: 4 }),
    ];
    t.clock.advance(1);
    await flush();
    assert.deepEqual(
      t.runner.calls.map((c) => c[0].shape),
      [
        [2, 4],
        [2, 2],
      ],
    );
    assert.deepEqual(
      xs.map((r) => r.result.outputs![0].data[0]),
      [4, 4, 12, 8],
    );
    assertDoneOnce(t.reqs);
  });

  it('spreads batches over instances, one batch per instance at a time', async () => {
    const t = setup({ runners: [new FakeRunner('manual'), new FakeRunner('manual')] });
    t.submitN(4);
    t.submitN(4);
    t.submitN(4);
    assert.deepEqual(
      t.runners.map((r) => r.calls.length),
      [1, 1],
    );
    assert.equal(t.b.inFlight(), 2);
    assert.equal(t.b.queueDepth(), 4);
    t.runners[1].resolveNext();
    await flush();
    assert.deepEqual(
      t.runners.map((r) => r.calls.length),
      [1, 2],
      'the freed instance takes the queued batch',
    );
    await finishAll(t.runners);
    assertDoneOnce(t.reqs);
  });

  it('round-robins among free instances', async () => {
    const t = setup({ runners: [new FakeRunner(), new FakeRunner(), new FakeRunner()] });
    for (let i = 0; i < 6; i++) {
      t.submitN(4);
      await flush();
    }
    assert.deepEqual(
      t.runners.map((r) => r.calls.length),
      [2, 2, 2],
    );
    assertDoneOnce(t.reqs);
  });

  it('a failing execution fails only its own batch', async () => {
    const t = setup({ runners: [new FakeRunner('manual'), new FakeRunner('manual')] });
    const a = t.submitN(4);
    const b = t.submitN(4);
    t.runners[0].rejectNext(new Error('CUDA out of memory'));
    t.runners[1].resolveNext();
    await flush();
    for (const r of a) {
      assert.equal(r.result.err?.code, Status.INTERNAL);
      assert.match(r.result.err!.message, /'ranker'.*CUDA out of memory/);
    }
    for (const r of b) assert.equal(r.result.err, null);
    assert.deepEqual(t.batches.map((x) => x[3]).sort(), [false, true]);
    const c = t.submitN(4);
    t.runners[0].rejectNext(unavailable('instance 0 circuit open'));
    await flush();
    for (const r of c) assert.equal(r.result.err?.code, Status.UNAVAILABLE, 'InferError codes pass through');
    assertDoneOnce(t.reqs);
  });

  it('a runner that throws synchronously fails its batch with INTERNAL', async () => {
    const runner = new FakeRunner();
    runner.failWith = new Error('bad session');
    runner.throwSync = true;
    const t = setup({ runners: [runner] });
    t.submitN(4);
    await flush();
    for (const r of t.reqs) assert.match(r.result.err!.message, /bad session/);
    assertDoneOnce(t.reqs);
  });

  it('fails fast with UNAVAILABLE when every breaker is open, queued requests included', async () => {
    const t = setup({ runners: [new FakeRunner('manual'), new FakeRunner('manual')] });
    t.submitN(4); // r0
    t.submitN(4); // r1
    const queued = t.submitN(2);
    t.runners[0].setOpen(true);
    assert.equal(t.b.ready(), true, 'one instance still takes work');
    assert.equal(queued[0].calls.length, 0);
    t.runners[1].setOpen(true);
    assert.equal(t.b.ready(), false);
    for (const r of queued) {
      assert.equal(r.result.err?.code, Status.UNAVAILABLE);
      assert.match(r.result.err!.message, /'ranker'.*breaker is open/);
    }
    const fresh = t.submit();
    assert.equal(fresh.result.err?.code, Status.UNAVAILABLE);
    assert.deepEqual(t.rejected, ['unavailable', 'unavailable', 'unavailable']);
    t.runners[1].setOpen(false);
    assert.equal(t.b.ready(), true);
    await finishAll(t.runners); // running batches still complete normally
    t.submitN(4);
    await finishAll(t.runners);
    assert.deepEqual(
      t.runners.map((r) => r.calls.length),
      [1, 2],
      'only the closed instance gets work',
    );
    assertDoneOnce(t.reqs);
  });

  it('drain: refuses new work, sends queued work without delay, resolves when all is done', async () => {
    const t = setup({ runners: [new FakeRunner('manual')] });
    t.submitN(4); // running
    t.submitN(2); // waiting behind it
    let drained = false;
    const done = t.b.drain().then(() => (drained = true));
    const refused = t.submit();
    assert.equal(refused.result.err?.code, Status.UNAVAILABLE);
    assert.match(refused.result.err!.message, /'ranker' is draining/);
    assert.equal(t.b.ready(), false);
    t.runner.resolveNext();
    await flush();
    assert.deepEqual(t.runner.rows(), [4, 2], 'queued work went at once, no delay');
    assert.equal(drained, false);
    t.runner.resolveNext();
    await done;
    assert.equal(drained, true);
    assert.equal(t.clock.pending(), 0);
    assertDoneOnce(t.reqs);
    await t.b.drain(); // a second drain resolves at once
  });

  it('preserve_ordering releases completions in arrival order', async () => {
    const t = setup({ db: { preserve_ordering: true }, runners: [new FakeRunner('manual'), new FakeRunner('manual')] });
    const a = t.submitN(4);
    const b = t.submitN(4);
    const late = t.submit({ deadline: t.clock.now() + 0.5 });
    t.runners[1].resolveNext();
    t.clock.advance(0.5); // late expires, but must wait for a and b
    await flush();
    assert.deepEqual(t.log, [], 'later arrivals are held until earlier ones finish');
    t.runners[0].resolveNext();
    await flush();
    assert.deepEqual(
      t.log,
      [...a, ...b, late].map((r) => r.id),
    );
    assert.equal(late.result.err?.code, Status.DEADLINE_EXCEEDED);
    assertDoneOnce(t.reqs);
  });

  it('without preserve_ordering, completions leave as batches finish', async () => {
    const t = setup({ runners: [new FakeRunner('manual'), new FakeRunner('manual')] });
    const a = t.submitN(4);
    const b = t.submitN(4);
    t.runners[1].resolveNext();
    await flush();
    t.runners[0].resolveNext();
    await flush();
    assert.deepEqual(
      t.log,
      [...b, ...a].map((r) => r.id),
    );
  });

  it('runs every request alone when batching is off', async () => {
    const t = setup({ cfg: { max_batch_size: 0 } });
    t.submitN(3);
    await flush();
    assert.deepEqual(t.runner.rows(), [1, 1, 1]);
    assertDoneOnce(t.reqs);
  });

  it('accepts a submit from inside a done() callback', async () => {
    const t = setup({ db: { max_queue_delay_microseconds: 0 } });
    let inner: FakeRequest | undefined;
    t.submit({ onDone: () => (inner = t.submit()) });
    await flush();
    await flush();
    assert.ok(inner);
    assert.equal(inner.result.err, null);
    assertDoneOnce(t.reqs);
  });

  it('a throwing done() callback does not stop the others', async () => {
    const t = setup();
    const boom = t.submit({
      onDone: () => {
        throw new Error('caller bug');
      },
    });
    const rest = t.submitN(3);
    await flush();
    assert.equal(boom.calls.length, 1);
    for (const r of rest) assert.equal(r.result.err, null);
  });
});
