import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { decide, policyConfig, withoutDelay, type PolicyConfig } from '../../../sidecar/scheduler/batch-policy';
import { BatchQueue } from '../../../sidecar/scheduler/batch-queue';
import type { DynamicBatchingConfig, ModelConfig } from '../../../sidecar/repository/config-types';
import { rankerConfig } from '../../helpers/configs';
import { FakeRequest } from '../../helpers/fake-runner';

/** A queued request in a table: id, rows, shape key, priority, arrival time (ms). */
type Q = [id: string, rows: number, key: string, priority: number, at: number];

/** The ranker config (max 8, preferred [4, 8], delay 1 ms, 2 levels) with overrides. */
function cfg(db: Partial<DynamicBatchingConfig> | null, over: Partial<ModelConfig> = {}): PolicyConfig {
  const base = rankerConfig();
  return policyConfig({ ...base, ...over, dynamic_batching: db === null ? undefined : { ...base.dynamic_batching!, ...db } });
}

const noPref = { preferred_batch_size: [] };
const ones = (n: number, key = 'x', at = 0, prefix = 'r'): Q[] => Array.from({ length: n }, (_, i) => [`${prefix}${i}`, 1, key, 2, at]);

interface Case {
  name: string;
  policy: PolicyConfig;
  queue: Q[];
  now: number;
  /** Expected: ids sent, ms to wait, or 'idle'. */
  want: { send: string[]; rows: number } | { wait: number } | 'idle';
}

const cases: Case[] = [
  { name: 'empty queue idles', policy: cfg({}), queue: [], now: 0, want: 'idle' },
  {
    name: 'formation stops at max_batch_size and sends at once',
    policy: cfg(noPref),
    queue: ones(10),
    now: 0,
    want: { send: ['r0', 'r1', 'r2', 'r3', 'r4', 'r5', 'r6', 'r7'], rows: 8 },
  },
  {
    name: 'below max, delay not reached: wait for the rest of the delay',
    policy: cfg(noPref),
    queue: ones(3, 'x', 0),
    now: 0.25,
    want: { wait: 0.75 },
  },
  {
    name: 'max delay reached: send what is there',
    policy: cfg(noPref),
    queue: ones(3, 'x', 0),
    now: 1,
    want: { send: ['r0', 'r1', 'r2'], rows: 3 },
  },
  {
    name: 'preferred size formed exactly: send it at once',
    policy: cfg({}),
    queue: ones(4),
    now: 0,
    want: { send: ['r0', 'r1', 'r2', 'r3'], rows: 4 },
  },
  {
    name: 'preferred size inside a longer list: send the preferred prefix',
    policy: cfg({}),
    queue: ones(6),
    now: 0,
    want: { send: ['r0', 'r1', 'r2', 'r3'], rows: 4 },
  },
  {
    name: 'preferred sizes: the largest formable wins',
    policy: cfg({ preferred_batch_size: [2, 4] }),
    queue: ones(5),
    now: 0,
    want: { send: ['r0', 'r1', 'r2', 'r3'], rows: 4 },
  },
  { name: 'no preferred size formable yet: wait', policy: cfg({}), queue: ones(3), now: 0, want: { wait: 1 } },
  {
    name: 'delay reached beats preferred: send all candidates',
    policy: cfg({}),
    queue: ones(6),
    now: 1,
    want: { send: ['r0', 'r1', 'r2', 'r3', 'r4', 'r5'], rows: 6 },
  },
  { name: 'preferred sizes above max are ignored', policy: cfg({ preferred_batch_size: [16] }), queue: ones(3), now: 0, want: { wait: 1 } },
  {
    name: 'multi-row requests: preferred prefix by rows',
    policy: cfg({}),
    queue: [
      ['a', 3, 'x', 2, 0],
      ['b', 1, 'x', 2, 0],
      ['c', 2, 'x', 2, 0],
    ],
    now: 0,
    want: { send: ['a', 'b'], rows: 4 },
  },
  {
    name: 'a request that does not fit is skipped, smaller ones still fill',
    policy: cfg(noPref),
    queue: [
      ['a', 5, 'x', 2, 0],
      ['b', 4, 'x', 2, 0],
      ['c', 3, 'x', 2, 0],
    ],
    now: 0,
    want: { send: ['a', 'c'], rows: 8 },
  },
  {
    name: 'queue delay 0: send what is there at once',
    policy: cfg({ ...noPref, max_queue_delay_microseconds: 0 }),
    queue: ones(3),
    now: 0,
    want: { send: ['r0', 'r1', 'r2'], rows: 3 },
  },
  {
    name: 'mixed shapes never share a batch',
    policy: cfg(noPref),
    queue: [
      ['x1', 1, 'x', 2, 0],
      ['y1', 1, 'y', 2, 0],
      ['x2', 1, 'x', 2, 0],
      ['y2', 1, 'y', 2, 0],
    ],
    now: 1,
    want: { send: ['x1', 'x2'], rows: 2 },
  },
  {
    name: 'priority order: high level first, then low level FIFO',
    policy: cfg(noPref),
    queue: [
      ['l1', 1, 'x', 2, 0],
      ['l2', 1, 'x', 2, 0],
      ['h1', 1, 'x', 1, 0.5],
      ['h2', 1, 'x', 1, 0.6],
    ],
    now: 2,
    want: { send: ['h1', 'h2', 'l1', 'l2'], rows: 4 },
  },
  {
    name: 'the wait runs from the oldest candidate, whatever its level',
    policy: cfg(noPref),
    queue: [
      ['l1', 1, 'x', 2, 0],
      ['h1', 1, 'x', 1, 0.5],
    ],
    now: 0.6,
    want: { wait: 0.4 },
  },
  {
    name: 'older requests of another shape do not shorten the wait',
    policy: cfg(noPref),
    queue: [
      ['h1', 1, 'x', 1, 0.5],
      ['y1', 1, 'y', 2, 0],
    ],
    now: 0.6,
    want: { wait: 0.9 },
  },
  {
    name: 'max_batch_size 0: every request alone',
    policy: cfg({}, { max_batch_size: 0 }),
    queue: ones(5),
    now: 0,
    want: { send: ['r0'], rows: 1 },
  },
  { name: 'no dynamic_batching: every request alone', policy: cfg(null), queue: ones(5), now: 0, want: { send: ['r0'], rows: 1 } },
  { name: 'draining: no delay', policy: withoutDelay(cfg(noPref)), queue: ones(2), now: 0, want: { send: ['r0', 'r1'], rows: 2 } },
  {
    name: 'scan limit bounds the search past other shapes',
    policy: { ...cfg(noPref), scanLimit: 3 },
    queue: [
      ['x1', 1, 'x', 2, 0],
      ['y1', 1, 'y', 2, 0],
      ['y2', 1, 'y', 2, 0],
      ['x2', 1, 'x', 2, 0],
    ],
    now: 1,
    want: { send: ['x1'], rows: 1 },
  },
];

describe('decide', () => {
  for (const c of cases) {
    it(c.name, () => {
      const q = new BatchQueue(2, 0);
      for (const [id, rows, key, priority, at] of c.queue) {
        q.push(new FakeRequest({ id, rows, shapeKey: key, priority, arrivedAt: at }));
      }
      const d = decide(q, c.now, c.policy);
      if (c.want === 'idle') assert.equal(d.kind, 'idle');
      else if ('wait' in c.want) {
        assert.equal(d.kind, 'wait');
        if (d.kind === 'wait') assert.ok(Math.abs(d.ms - c.want.wait) < 1e-9, `wait ${d.ms}, expected ${c.want.wait}`);
      } else {
        assert.equal(d.kind, 'send');
        if (d.kind === 'send') {
          assert.deepEqual(
            d.entries.map((e) => e.req.id),
            c.want.send,
          );
          assert.equal(d.rows, c.want.rows);
        }
      }
      // decide is pure: the queue is unchanged.
      assert.equal(q.size, c.queue.length);
    });
  }
});
