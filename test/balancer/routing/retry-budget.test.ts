import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { RetryBudget, type RetryDecision } from '../../../balancer/routing/retry-budget';
import { Status } from '../../../protocol/status';
import { DEFAULT_POLICY } from '../../../routing-config/policy';
import type { RetryConfig } from '../../../routing-config/types';

const cfg = (over: Partial<RetryConfig> = {}): RetryConfig => ({ ...DEFAULT_POLICY.retry, ...over });
const R = 'retry';

/** Outcome names for tables: 'retry' or the refusal reason. */
const outcome = (d: RetryDecision) => (d.retry ? R : d.reason);

describe('RetryBudget', () => {
  // [name, config, active calls, attempts as [retriesDone, status, connectionFailure], expected outcomes]
  const cases: [string, RetryConfig, number, [number, Status, boolean][], string[]][] = [
    [
      'default statuses retry, others do not',
      cfg(),
      1,
      [
        [0, Status.UNAVAILABLE, false],
        [0, Status.RESOURCE_EXHAUSTED, false],
        [0, Status.INTERNAL, false],
        [0, Status.INVALID_ARGUMENT, false],
      ],
      [R, R, 'not_retryable', 'not_retryable'],
    ],
    ['a connection failure always retries', cfg({ retryable_statuses: [] }), 1, [[0, Status.INTERNAL, true]], [R]],
    [
      'max_retries per call',
      cfg({ max_retries: 2 }),
      1,
      [
        [0, Status.UNAVAILABLE, false],
        [1, Status.UNAVAILABLE, false],
        [2, Status.UNAVAILABLE, false],
      ],
      [R, R, 'max_retries'],
    ],
    [
      'few calls: the floor (min_retry_concurrency 3) allows 3 at once',
      cfg(),
      2,
      [
        [0, Status.UNAVAILABLE, false],
        [0, Status.UNAVAILABLE, false],
        [0, Status.UNAVAILABLE, false],
        [0, Status.UNAVAILABLE, false],
      ],
      [R, R, R, 'budget'],
    ],
    ['many calls: 20 % of 25 active = 5 at once', cfg(), 25, Array(6).fill([0, Status.UNAVAILABLE, false]), [R, R, R, R, R, 'budget']],
    [
      'budget_percent 0 leaves the floor',
      cfg({ budget_percent: 0, min_retry_concurrency: 1 }),
      100,
      Array(2).fill([0, Status.UNAVAILABLE, false]),
      [R, 'budget'],
    ],
    ['floor 0 and no calls: nothing', cfg({ min_retry_concurrency: 0 }), 0, [[0, Status.UNAVAILABLE, false]], ['budget']],
  ];
  for (const [name, config, active, attempts, want] of cases) {
    it(name, () => {
      const b = new RetryBudget(config);
      for (let i = 0; i < active; i++) b.callStarted();
      assert.deepEqual(
        attempts.map(([done, code, conn]) => outcome(b.decide(done, code, conn))),
        want,
      );
    });
  }

  it('slots return when retries end; limits follow active calls', () => {
    const b = new RetryBudget(cfg());
    const seq: (string | number)[] = [];
    const retry = () => seq.push(outcome(b.decide(0, Status.UNAVAILABLE)));
    for (let i = 0; i < 3; i++) retry();
    retry();
    b.retryEnded();
    retry();
    for (let i = 0; i < 20; i++) b.callStarted();
    seq.push(b.limit());
    retry();
    for (let i = 0; i < 20; i++) b.callEnded();
    seq.push(b.limit(), b.activeCalls, b.activeRetries);
    assert.deepEqual(seq, [R, R, R, 'budget', R, 4, R, 3, 0, 4]);
  });

  it('hedges share the budget', () => {
    const b = new RetryBudget(cfg({ min_retry_concurrency: 2 }));
    assert.deepEqual([b.tryHedge(), outcome(b.decide(0, Status.UNAVAILABLE)), b.tryHedge()], [true, R, false]);
    b.retryEnded();
    assert.equal(b.tryHedge(), true);
  });

  it('setConfig changes statuses and limits, counts carry over', () => {
    const b = new RetryBudget(cfg());
    b.decide(0, Status.UNAVAILABLE);
    b.setConfig(cfg({ retryable_statuses: ['INTERNAL'], min_retry_concurrency: 1 }));
    assert.deepEqual(
      [b.isRetryable(Status.UNAVAILABLE), b.isRetryable(Status.INTERNAL), outcome(b.decide(0, Status.INTERNAL))],
      [false, true, 'budget'],
    );
  });

  it('unbalanced ends do not go negative', () => {
    const b = new RetryBudget(cfg());
    b.callEnded();
    b.retryEnded();
    assert.deepEqual([b.activeCalls, b.activeRetries], [0, 0]);
  });
});
