import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { BatchQueue, type QueueEntry } from '../../../sidecar/scheduler/batch-queue';
import { FakeRequest } from '../../helpers/fake-runner';

/** Ids in priority-then-FIFO order, walking first()/next(). */
function order(q: BatchQueue): string[] {
  const ids: string[] = [];
  for (let e = q.first(); e; e = q.next(e)) ids.push(e.req.id);
  return ids;
}

/** Entries by id, walking the queue. */
function entries(q: BatchQueue): Map<string, QueueEntry> {
  const m = new Map<string, QueueEntry>();
  for (let e = q.first(); e; e = q.next(e)) m.set(e.req.id, e);
  return m;
}

const req = (id: string, priority = 1, deadline = Infinity) => new FakeRequest({ id, priority, deadline });

describe('BatchQueue', () => {
  const orderCases: { name: string; levels: number; push: [string, number][]; want: string[] }[] = [
    {
      name: 'FIFO within one level',
      levels: 1,
      push: [
        ['a', 1],
        ['b', 1],
        ['c', 1],
      ],
      want: ['a', 'b', 'c'],
    },
    {
      name: 'level 1 before level 2, FIFO within each',
      levels: 2,
      push: [
        ['l1', 2],
        ['h1', 1],
        ['l2', 2],
        ['h2', 1],
      ],
      want: ['h1', 'h2', 'l1', 'l2'],
    },
    {
      name: 'three levels, empty middle level skipped',
      levels: 3,
      push: [
        ['c', 3],
        ['a', 1],
        ['d', 3],
      ],
      want: ['a', 'c', 'd'],
    },
    {
      name: 'out-of-range priorities are clamped',
      levels: 2,
      push: [
        ['x', 9],
        ['y', 0],
        ['z', 1],
      ],
      want: ['y', 'z', 'x'],
    },
    {
      name: 'levels 0 means one level',
      levels: 0,
      push: [
        ['a', 1],
        ['b', 2],
      ],
      want: ['a', 'b'],
    },
  ];
  for (const c of orderCases) {
    it(`orders: ${c.name}`, () => {
      const q = new BatchQueue(c.levels, 0);
      for (const [id, p] of c.push) assert.equal(q.push(req(id, p)), true);
      assert.deepEqual(order(q), c.want);
      assert.equal(q.size, c.want.length);
    });
  }

  it('bounds the size across levels and rejects when full; 0 is unbounded', () => {
    const q = new BatchQueue(2, 3);
    assert.equal(q.push(req('a', 1)), true);
    assert.equal(q.push(req('b', 2)), true);
    assert.equal(q.push(req('c', 2)), true);
    assert.equal(q.push(req('d', 1)), false);
    assert.equal(q.size, 3);
    q.remove(q.first()!);
    assert.equal(q.push(req('e', 1)), true);
    const unbounded = new BatchQueue(1, 0);
    for (let i = 0; i < 1000; i++) assert.equal(unbounded.push(req(`u${i}`)), true);
  });

  it('numbers entries in arrival order across levels, only for accepted pushes', () => {
    const q = new BatchQueue(2, 2);
    q.push(req('a', 2));
    q.push(req('b', 1));
    q.push(req('c', 1)); // rejected: full
    const m = entries(q);
    assert.deepEqual([m.get('a')!.seq, m.get('b')!.seq], [0, 1]);
    q.remove(m.get('a')!);
    q.push(req('d', 1));
    assert.equal(entries(q).get('d')!.seq, 2);
  });

  it('removes from head and middle, skipping holes, and keeps order through growth', () => {
    const q = new BatchQueue(1, 0);
    for (let i = 0; i < 40; i++) q.push(req(`r${i}`));
    const m = entries(q);
    // Take every third from the middle (as a batch skipping other shapes would), then the head.
    for (let i = 1; i < 40; i += 3) q.remove(m.get(`r${i}`)!);
    q.remove(m.get('r0')!);
    q.remove(m.get('r0')!); // second removal is a no-op
    for (let i = 40; i < 80; i++) q.push(req(`r${i}`)); // forces growth with holes present
    const want: string[] = [];
    for (let i = 2; i < 80; i++) if (i >= 40 || i % 3 !== 1) want.push(`r${i}`);
    assert.deepEqual(order(q), want);
    assert.equal(q.size, want.length);
    assert.equal(m.get('r1')!.queued, false);
    assert.equal(m.get('r2')!.queued, true);
  });

  it('wraps around the ring under steady push/take without growing', () => {
    const q = new BatchQueue(1, 0);
    let next = 0;
    let taken = 0;
    for (let round = 0; round < 1000; round++) {
      for (let k = 0; k < 5; k++) q.push(req(`w${next++}`));
      for (let k = 0; k < 5; k++) {
        const e = q.first()!;
        assert.equal(e.req.id, `w${taken++}`);
        q.remove(e);
      }
    }
    assert.equal(q.size, 0);
    assert.equal(q.first(), undefined);
  });

  it('take() removes a batch of entries', () => {
    const q = new BatchQueue(2, 0);
    for (const [id, p] of [
      ['a', 1],
      ['b', 2],
      ['c', 1],
      ['d', 2],
    ] as const)
      q.push(req(id, p));
    const m = entries(q);
    q.take([m.get('a')!, m.get('d')!]);
    assert.deepEqual(order(q), ['c', 'b']);
  });

  it('tracks the earliest deadline and removes expired requests earliest first', () => {
    const q = new BatchQueue(2, 0);
    q.push(req('none', 1));
    q.push(req('d30', 2, 30));
    q.push(req('d10', 1, 10));
    q.push(req('d20', 2, 20));
    q.push(req('d10b', 1, 10));
    assert.equal(q.earliestDeadline(), 10);
    assert.deepEqual(q.removeExpired(9), []);
    assert.deepEqual(
      q
        .removeExpired(10)
        .map((e) => e.req.id)
        .sort(),
      ['d10', 'd10b'],
    );
    assert.equal(q.earliestDeadline(), 20);
    // Taking a request in a batch also drops it from deadline tracking.
    q.take([entries(q).get('d20')!]);
    assert.equal(q.earliestDeadline(), 30);
    assert.deepEqual(
      q.removeExpired(100).map((e) => e.req.id),
      ['d30'],
    );
    assert.equal(q.earliestDeadline(), Infinity);
    assert.deepEqual(order(q), ['none']);
  });

  it('keeps the deadline heap consistent under random removals', () => {
    const q = new BatchQueue(3, 0);
    let x = 7;
    const rand = () => (x = (x * 1103515245 + 12345) % 2147483648) / 2147483648;
    const live = new Map<string, number>();
    for (let i = 0; i < 500; i++) {
      const d = Math.floor(rand() * 1000);
      q.push(req(`h${i}`, 1 + (i % 3), d));
      live.set(`h${i}`, d);
      if (i % 4 === 3) {
        const es = [...entries(q).values()];
        const victim = es[Math.floor(rand() * es.length)];
        q.remove(victim);
        live.delete(victim.req.id);
      }
      assert.equal(q.earliestDeadline(), Math.min(...live.values()));
    }
    const expired = q.removeExpired(500).map((e) => e.req.deadline);
    assert.deepEqual(
      expired,
      [...expired].sort((a, b) => a - b),
    );
    for (const d of expired) assert.ok(d <= 500);
    assert.ok(q.earliestDeadline() > 500);
  });

  it('removeAll empties the queue in priority-then-FIFO order', () => {
    const q = new BatchQueue(2, 0);
    for (const [id, p] of [
      ['a', 2],
      ['b', 1],
      ['c', 2],
    ] as const)
      q.push(req(id, p, 50));
    assert.deepEqual(
      q.removeAll().map((e) => e.req.id),
      ['b', 'a', 'c'],
    );
    assert.equal(q.size, 0);
    assert.equal(q.earliestDeadline(), Infinity);
  });
});
