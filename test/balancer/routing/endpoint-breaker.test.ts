import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { EndpointBreaker, type BreakerEvent } from '../../../balancer/routing/endpoint-breaker';

/** Script ops: acquire (a), release (r), set the cap (number). Each step records [result, inFlight, full]. */
type Op = 'a' | 'r' | number;

function run(max: number, ops: Op[]): { steps: [boolean | null, number, boolean][]; events: BreakerEvent[]; rejected: number } {
  const b = new EndpointBreaker(max);
  const events: BreakerEvent[] = [];
  b.onChange((e) => events.push(e));
  const steps = ops.map((op): [boolean | null, number, boolean] => {
    let r: boolean | null = null;
    if (op === 'a') r = b.tryAcquire();
    else if (op === 'r') b.release();
    else b.setMax(op);
    return [r, b.inFlight, b.isFull()];
  });
  return { steps, events, rejected: b.rejected };
}

describe('EndpointBreaker', () => {
  const cases: [name: string, max: number, ops: Op[], want: ReturnType<typeof run>][] = [
    [
      'fills, refuses, frees',
      2,
      ['a', 'a', 'a', 'r', 'a'],
      {
        steps: [
          [true, 1, false],
          [true, 2, true],
          [false, 2, true],
          [null, 1, false],
          [true, 2, true],
        ],
        events: ['full', 'room', 'full'],
        rejected: 1,
      },
    ],
    [
      'cap 1',
      1,
      ['a', 'a', 'r'],
      {
        steps: [
          [true, 1, true],
          [false, 1, true],
          [null, 0, false],
        ],
        events: ['full', 'room'],
        rejected: 1,
      },
    ],
    [
      'lowering the cap below in-flight: calls finish, room returns only below the new cap',
      4,
      ['a', 'a', 'a', 2, 'r', 'r', 'a'],
      {
        steps: [
          [true, 1, false],
          [true, 2, false],
          [true, 3, false],
          [null, 3, true],
          [null, 2, true],
          [null, 1, false],
          [true, 2, true],
        ],
        events: ['full', 'room', 'full'],
        rejected: 0,
      },
    ],
    [
      'raising the cap makes room',
      1,
      ['a', 3, 'a'],
      {
        steps: [
          [true, 1, true],
          [null, 1, false],
          [true, 2, false],
        ],
        events: ['full', 'room'],
        rejected: 0,
      },
    ],
  ];
  for (const [name, max, ops, want] of cases) it(name, () => assert.deepEqual(run(max, ops), want));

  it('release without acquire is a bug and throws', () => {
    assert.throws(() => new EndpointBreaker(1).release(), /without a matching tryAcquire/);
  });

  it('reports its cap', () => assert.equal(new EndpointBreaker(1024).max, 1024));
});
