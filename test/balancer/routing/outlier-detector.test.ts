import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { EndpointState } from '../../../balancer/routing/endpoint-state';
import { isOutlierFailure, type OutlierEvent } from '../../../balancer/routing/outlier-detector';
import { Status } from '../../../protocol/status';
import { cluster, endpoints, outlierConfig, policy, type TestCluster } from '../../helpers/balancer-fixture';

/** A script step: record statuses for an endpoint, or advance time. */
type Step = { at: number; fail?: [id: string, times: number]; ok?: string; remove?: string };

/** An expected event: [time, endpoint, event]. */
type Ev = [number, string, OutlierEvent];

function run(t: TestCluster, steps: Step[]): Ev[] {
  const events: Ev[] = [];
  t.detector.onChange((m, e) => events.push([t.clock.now(), m.endpoint.id, e]));
  for (const s of steps) {
    t.clock.advance(s.at - t.clock.now());
    if (s.fail) for (let i = 0; i < s.fail[1]; i++) t.detector.record(t.get(s.fail[0]), Status.UNAVAILABLE);
    if (s.ok) t.detector.record(t.get(s.ok), Status.OK);
    if (s.remove) t.detector.remove(t.get(s.remove));
  }
  t.clock.advance(1_000_000);
  return events;
}

/** consecutive 3, base 1000 ms, max 2500 ms, interval 500 ms, max 10 %. */
function setup(n: number, over: Parameters<typeof outlierConfig>[0] = {}): TestCluster {
  return cluster(endpoints(n), policy({ outlier_detection: outlierConfig(over) }));
}

interface Case {
  name: string;
  n: number;
  config?: Parameters<typeof outlierConfig>[0];
  steps: Step[];
  want: Ev[];
}

const cases: Case[] = [
  {
    name: 'ejection times grow with each ejection and stop at the cap',
    n: 10,
    steps: [
      { at: 0, fail: ['e0', 3] },
      { at: 1000, fail: ['e0', 3] },
      { at: 3000, fail: ['e0', 3] },
      { at: 5500, fail: ['e0', 3] },
    ],
    want: [
      [0, 'e0', 'ejected'],
      [1000, 'e0', 'returned'],
      [1000, 'e0', 'ejected'],
      [3000, 'e0', 'returned'],
      [3000, 'e0', 'ejected'],
      [5500, 'e0', 'returned'],
      [5500, 'e0', 'ejected'],
      [8000, 'e0', 'returned'],
    ],
  },
  {
    name: 'a success breaks the run',
    n: 10,
    steps: [
      { at: 0, fail: ['e0', 2] },
      { at: 1, ok: 'e0' },
      { at: 2, fail: ['e0', 2] },
      { at: 3, fail: ['e0', 1] },
    ],
    want: [
      [3, 'e0', 'ejected'],
      [1003, 'e0', 'returned'],
    ],
  },
  {
    name: 'time in service lowers the multiplier by one per interval (Envoy)',
    n: 10,
    // Ejected at 0 (1 s), again at 1000 (×2 = 2 s), back at 3000; 1000 ms in service = 2 intervals: ×2 → ×0, next is ×1.
    steps: [
      { at: 0, fail: ['e0', 3] },
      { at: 1000, fail: ['e0', 3] },
      { at: 4000, fail: ['e0', 3] },
    ],
    want: [
      [0, 'e0', 'ejected'],
      [1000, 'e0', 'returned'],
      [1000, 'e0', 'ejected'],
      [3000, 'e0', 'returned'],
      [4000, 'e0', 'ejected'],
      [5000, 'e0', 'returned'],
    ],
  },
  {
    name: 'max 10 % of 10: one ejected, the next waits for room and goes at its next failure',
    n: 10,
    steps: [
      { at: 0, fail: ['e0', 3] },
      { at: 10, fail: ['e1', 5] },
      { at: 1500, fail: ['e1', 1] },
    ],
    want: [
      [0, 'e0', 'ejected'],
      [1000, 'e0', 'returned'],
      [1500, 'e1', 'ejected'],
      [2500, 'e1', 'returned'],
    ],
  },
  {
    name: 'max 10 % of 11: the share before ejecting is checked, so a second goes (Envoy, gRFC A50)',
    n: 11,
    steps: [
      { at: 0, fail: ['e0', 3] },
      { at: 10, fail: ['e1', 3] },
      { at: 20, fail: ['e2', 3] },
    ],
    want: [
      [0, 'e0', 'ejected'],
      [10, 'e1', 'ejected'],
      [1000, 'e0', 'returned'],
      [1010, 'e1', 'returned'],
    ],
  },
  {
    name: 'max 10 % of 3: one may always go',
    n: 3,
    steps: [
      { at: 0, fail: ['e0', 3] },
      { at: 10, fail: ['e1', 3] },
    ],
    want: [
      [0, 'e0', 'ejected'],
      [1000, 'e0', 'returned'],
    ],
  },
  { name: 'max 0 %: never', n: 3, config: { max_ejection_percent: 0 }, steps: [{ at: 0, fail: ['e0', 10] }], want: [] },
  { name: 'consecutive_failures 0: off', n: 3, config: { consecutive_failures: 0 }, steps: [{ at: 0, fail: ['e0', 10] }], want: [] },
  {
    name: 'results of calls in flight while ejected are ignored; the run restarts on return',
    n: 10,
    steps: [
      { at: 0, fail: ['e0', 3] },
      { at: 500, fail: ['e0', 10] },
      { at: 1000, fail: ['e0', 2] },
    ],
    want: [
      [0, 'e0', 'ejected'],
      [1000, 'e0', 'returned'],
    ],
  },
  {
    name: 'removal while ejected cancels the return and frees room',
    n: 10,
    steps: [
      { at: 0, fail: ['e0', 3] },
      { at: 10, remove: 'e0' },
      { at: 20, fail: ['e1', 3] },
    ],
    want: [
      [0, 'e0', 'ejected'],
      [20, 'e1', 'ejected'],
      [1020, 'e1', 'returned'],
    ],
  },
];

describe('OutlierDetector', () => {
  for (const c of cases) {
    it(c.name, () => {
      const t = setup(c.n, c.config);
      assert.deepEqual(run(t, c.steps), c.want);
      assert.equal(t.detector.ejectedCount, 0);
      assert.equal(t.clock.pending(), 0, 'no timers left');
    });
  }

  it('counts only server-side failure statuses', () => {
    const table: [Status, boolean][] = [
      [Status.UNAVAILABLE, true],
      [Status.INTERNAL, true],
      [Status.UNKNOWN, true],
      [Status.DEADLINE_EXCEEDED, true],
      [Status.OK, false],
      [Status.RESOURCE_EXHAUSTED, false],
      [Status.INVALID_ARGUMENT, false],
      [Status.NOT_FOUND, false],
      [Status.CANCELLED, false],
    ];
    for (const [code, want] of table) assert.equal(isOutlierFailure(code), want, Status[code]);
  });

  it('a caller error resets the run like a success', () => {
    const t = setup(10);
    const e0 = t.get('e0');
    for (const code of [Status.INTERNAL, Status.INTERNAL, Status.INVALID_ARGUMENT, Status.INTERNAL, Status.INTERNAL])
      t.detector.record(e0, code);
    assert.equal(e0.outlier.ejected, false);
    assert.equal(t.detector.record(e0, Status.UNKNOWN), true);
    assert.equal(e0.outlier.ejected, true);
    assert.equal(e0.outlier.ejectedUntil, 1000);
  });

  it('close() cancels return timers', () => {
    const t = setup(10);
    for (let i = 0; i < 3; i++) t.detector.record(t.get('e0'), Status.UNAVAILABLE);
    assert.equal(t.clock.pending(), 1);
    t.detector.close();
    assert.equal(t.clock.pending(), 0);
  });

  it('setConfig applies to the next ejection', () => {
    const t = setup(10);
    t.detector.setConfig(outlierConfig({ consecutive_failures: 1, base_ejection_ms: 200 }));
    const e0: EndpointState = t.get('e0');
    t.detector.record(e0, Status.UNAVAILABLE);
    assert.equal(e0.outlier.ejectedUntil, 200);
  });
});
