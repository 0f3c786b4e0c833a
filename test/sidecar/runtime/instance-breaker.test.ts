// opossum runs on real time (Date.now and Node timers), so these tests sleep,
// briefly: reset timeouts are tens of milliseconds.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { Status, invalidArgument } from '../../../protocol/status';
import { DynamicBatcher } from '../../../sidecar/scheduler/batcher';
import { InstanceBreaker, type BreakerState } from '../../../sidecar/runtime/instance-breaker';
import type { BreakerConfig } from '../../../sidecar/repository/config-types';
import { rankerConfig } from '../../helpers/configs';
import { FakeClock } from '../../helpers/fake-clock';
import { FakeRequest, FakeRunner, flush, rowSums, tensor } from '../../helpers/fake-runner';

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));
const RESET_MS = 40;
const input = [tensor('features', 'FP32', [1, 4], new Float32Array([1, 2, 3, 4]))];

function setup(over: Partial<BreakerConfig> = {}, mode: 'auto' | 'manual' = 'auto') {
  const inner = new FakeRunner(mode);
  const config: BreakerConfig = {
    timeout_ms: 1000,
    error_threshold_percentage: 50,
    volume_threshold: 2,
    reset_timeout_ms: RESET_MS,
    rolling_window_ms: 10_000,
    ...over,
  };
  const breaker = new InstanceBreaker(inner, { model: 'ranker', instance: '0', config });
  const states: BreakerState[] = [];
  breaker.onStateChange((s) => states.push(s));
  return { inner, breaker, states };
}

/** Runs once and returns the error (or null on success). */
async function attempt(b: InstanceBreaker): Promise<unknown> {
  try {
    await b.run(input);
    return null;
  } catch (e) {
    return e;
  }
}

describe('InstanceBreaker', () => {
  it('opens after failures, fails fast, half-opens and recovers', async () => {
    const t = setup();
    t.inner.failWith = new Error('session crashed');
    assert.equal(t.breaker.state(), 'closed');
    assert.match(String(await attempt(t.breaker)), /session crashed/);
    assert.equal(t.breaker.state(), 'closed', 'below volume_threshold');
    await attempt(t.breaker);
    assert.equal(t.breaker.state(), 'open');
    assert.equal(t.breaker.isOpen(), true);

    const fast = (await attempt(t.breaker)) as { code: Status; message: string };
    assert.equal(fast.code, Status.UNAVAILABLE);
    assert.match(fast.message, /model 'ranker' instance 0: circuit open/);
    assert.equal(t.inner.calls.length, 2, 'an open breaker does not call the instance');

    await sleep(RESET_MS + 20);
    assert.equal(t.breaker.state(), 'half_open');
    assert.equal(t.breaker.isOpen(), false);
    t.inner.failWith = null;
    assert.equal(await attempt(t.breaker), null);
    assert.equal(t.breaker.state(), 'closed');
    assert.deepEqual(t.states, ['open', 'half_open', 'closed']);
    await t.breaker.close();
  });

  it('a failed half-open probe opens it again', async () => {
    const t = setup();
    t.inner.failWith = new Error('still broken');
    await attempt(t.breaker);
    await attempt(t.breaker);
    await sleep(RESET_MS + 20);
    await attempt(t.breaker);
    assert.deepEqual(t.states, ['open', 'half_open', 'open']);
    await t.breaker.close();
  });

  it("does not count the caller's bad input as instance failure", async () => {
    const t = setup();
    t.inner.failWith = invalidArgument('bad rows');
    for (let i = 0; i < 5; i++) assert.equal(((await attempt(t.breaker)) as { code: Status }).code, Status.INVALID_ARGUMENT);
    assert.equal(t.breaker.state(), 'closed');
    assert.deepEqual(t.states, []);
    await t.breaker.close();
  });

  it('a timeout fails the call with UNAVAILABLE but the instance stays busy until the execution ends', async () => {
    const t = setup({ timeout_ms: 20, volume_threshold: 10 }, 'manual');
    let idle = 0;
    t.breaker.onIdle(() => idle++);
    const err = (await attempt(t.breaker)) as { code: Status; message: string };
    assert.equal(err.code, Status.UNAVAILABLE);
    assert.match(err.message, /did not finish within 20 ms/);
    assert.equal(t.breaker.busy(), true);
    t.inner.resolveNext(rowSums(input));
    await flush();
    assert.equal(t.breaker.busy(), false);
    assert.equal(idle, 1);
    await t.breaker.close();
  });

  it('close() waits for a running execution, frees the instance, then refuses work', async () => {
    const t = setup({}, 'manual');
    const running = t.breaker.run(input);
    const closing = t.breaker.close();
    await flush();
    assert.equal(t.inner.closed, false, 'not while an execution runs');
    t.inner.resolveNext();
    await running;
    await closing;
    assert.equal(t.inner.closed, true);
    assert.equal(((await attempt(t.breaker)) as { code: Status }).code, Status.UNAVAILABLE);
  });

  it('drives the batcher: open fails requests fast, half-open lets them through again', async () => {
    const t = setup();
    t.inner.failWith = new Error('device lost');
    const base = rankerConfig();
    const config = { ...base, dynamic_batching: { ...base.dynamic_batching!, preferred_batch_size: [], max_queue_delay_microseconds: 0 } };
    const clock = new FakeClock();
    const batcher = new DynamicBatcher({ config, instances: [t.breaker], clock });
    const submit = () => {
      const r = new FakeRequest({ arrivedAt: clock.now() });
      batcher.submit(r);
      return r;
    };
    const failed = [submit()];
    await sleep(1);
    failed.push(submit());
    await sleep(1);
    for (const r of failed) assert.match(r.result.err!.message, /device lost/);
    assert.equal(batcher.ready(), false);
    const fast = submit();
    assert.equal(fast.result.err?.code, Status.UNAVAILABLE);
    assert.match(fast.result.err!.message, /breaker is open/);

    t.inner.failWith = null;
    await sleep(RESET_MS + 20);
    assert.equal(batcher.ready(), true, 'half-open takes a probe');
    const ok = submit();
    await sleep(1);
    assert.equal(ok.result.err, null);
    assert.deepEqual(t.states, ['open', 'half_open', 'closed']);
    await batcher.drain();
    await t.breaker.close();
  });
});
