import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { EndpointState } from '../../../../balancer/routing/endpoint-state';
import type { LoadMetric } from '../../../../balancer/routing/load/load-metric';
import { p2cPicker } from '../../../../balancer/routing/pick/p2c';
import {
  buildPicker,
  PickerCache,
  pickerFactory,
  registeredPickers,
  registerPicker,
  unavailablePicker,
} from '../../../../balancer/routing/pick';
import { cluster, endpoints, fixedMetric, pickerContext, shares } from '../../../helpers/balancer-fixture';

const N = 20_000;
/** Share tolerance: > 4 standard deviations of a 50 % share over N picks. */
const TOL = 0.015;

function assertShares(got: Record<string, number>, want: Record<string, number>, tol = TOL): void {
  for (const [id, w] of Object.entries(want)) {
    assert.ok(
      Math.abs(got[id] - w) <= tol,
      `${id}: share ${got[id].toFixed(4)}, want ${w.toFixed(4)} ± ${tol} (all: ${JSON.stringify(got)})`,
    );
  }
}

interface ShareCase {
  name: string;
  weights: number[];
  /** Cost per endpoint (index order). */
  costs: number[];
  choiceCount?: number;
  /** Expected share per endpoint (index order). */
  want: number[];
}

const shareCases: ShareCase[] = [
  { name: 'equal costs, equal weights: uniform', weights: [1, 1, 1, 1], costs: [1, 1, 1, 1], want: [0.25, 0.25, 0.25, 0.25] },
  {
    name: 'equal costs: weights respected (ties keep the weighted first draw)',
    weights: [1, 2, 3, 4],
    costs: [1, 1, 1, 1],
    want: [0.1, 0.2, 0.3, 0.4],
  },
  { name: 'two endpoints, weights 1:3, tied', weights: [1, 3], costs: [5, 5], want: [0.25, 0.75] },
  {
    name: 'graded costs: rank r wins against every higher rank it is paired with, 2(n-1-r)/(n(n-1))',
    weights: [1, 1, 1, 1],
    costs: [1, 2, 3, 4],
    want: [3 / 6, 2 / 6, 1 / 6, 0],
  },
  {
    name: 'one endpoint 10x loaded never wins a distinct pair (with duplicates it would win 1/n²)',
    weights: [1, 1, 1, 1, 1, 1, 1, 1, 1, 1],
    costs: [10, 1, 1, 1, 1, 1, 1, 1, 1, 1],
    want: [0, 0.111, 0.111, 0.111, 0.111, 0.111, 0.111, 0.111, 0.111, 0.111],
  },
  {
    name: 'choice_count 3: rank r wins when the two others drawn are higher, C(n-1-r,2)/C(n,3)',
    weights: [1, 1, 1, 1],
    costs: [1, 2, 3, 4],
    choiceCount: 3,
    want: [0.75, 0.25, 0, 0],
  },
  {
    // Pairs drawn without replacement in proportion to weight: {a,b} .4167, {a,c} .4167, {b,c} .1667.
    name: 'weighted distinct pairs: a (w2, costliest) never wins; b wins {a,b} and {b,c}',
    weights: [2, 1, 1],
    costs: [3, 1, 2],
    want: [0, 0.5833, 0.4167],
  },
  {
    name: 'choice_count above n: every candidate compared, lowest always wins',
    weights: [1, 1, 1],
    costs: [2, 1, 3],
    choiceCount: 5,
    want: [0, 1, 0],
  },
  { name: 'one candidate', weights: [7], costs: [1], want: [1] },
  { name: 'a zero weight is never drawn (one drawable left: no comparison)', weights: [0, 1], costs: [0, 1], want: [0, 1] },
  { name: 'zero weight among several', weights: [0, 1, 1], costs: [0, 1, 2], want: [0, 1, 0] },
  { name: 'all weights zero: equal weights', weights: [0, 0], costs: [1, 2], want: [1, 0] },
];

describe('p2c picker', () => {
  for (const c of shareCases) {
    it(c.name, () => {
      const t = cluster(endpoints(c.weights.length, (i) => ({ weight: c.weights[i] })));
      const ids = t.states.map((s) => s.endpoint.id);
      const metric = fixedMetric(Object.fromEntries(ids.map((id, i) => [id, c.costs[i]])));
      const picker = p2cPicker(t.states, pickerContext(t, { metric, choiceCount: c.choiceCount ?? 2 }));
      assertShares(shares(picker, ids, N), Object.fromEntries(ids.map((id, i) => [id, c.want[i]])));
    });
  }

  it('always compares choice_count distinct endpoints', () => {
    for (const [n, count, weights] of [
      [2, 2, [1, 1]],
      [3, 2, [1, 5, 1]],
      [5, 2, [1, 2, 3, 4, 5]],
      [5, 3, [9, 1, 1, 1, 1]],
      [4, 4, [1, 1, 1, 100]],
    ] as const) {
      const t = cluster(endpoints(n, (i) => ({ weight: weights[i] })));
      let seen: EndpointState[] = [];
      const spy: LoadMetric = { cost: (s) => (seen.push(s), 1) };
      const picker = p2cPicker(t.states, pickerContext(t, { metric: spy, choiceCount: count }));
      for (let i = 0; i < 5000; i++) {
        seen = [];
        picker.pick();
        assert.equal(seen.length, count, `n=${n}: ${count} costs read per pick`);
        assert.equal(new Set(seen).size, count, `n=${n} weights=${weights}: draws are distinct`);
      }
    }
  });

  it('the same seed gives the same picks', () => {
    const t = cluster(endpoints(6));
    const run = () => {
      const p = p2cPicker(t.states, pickerContext(t, { metric: fixedMetric({}) }, 42));
      return Array.from({ length: 50 }, () => {
        const r = p.pick();
        return r.kind === 'pick' ? r.endpoint.endpoint.id : '';
      });
    };
    assert.deepEqual(run(), run());
  });

  it('reads live load: a loaded endpoint loses until its calls end', () => {
    const t = cluster(endpoints(2));
    const [a, b] = t.states;
    const picker = p2cPicker(t.states, pickerContext(t));
    for (let i = 0; i < 5; i++) a.tryStart(0);
    assertShares(shares(picker, ['e0', 'e1'], 1000), { e0: 0, e1: 1 }, 0);
    for (let i = 0; i < 5; i++) a.onCallEnded(0, 0);
    b.tryStart();
    assertShares(shares(picker, ['e0', 'e1'], 1000), { e0: 1, e1: 0 }, 0);
  });
});

describe('round robin and least request, compared with p2c', () => {
  it('round robin cycles from a random start, ignoring load', () => {
    const t = cluster(endpoints(3));
    for (let i = 0; i < 10; i++) t.states[0].tryStart();
    const picker = buildPicker('round_robin', t.states, pickerContext(t));
    const ids = Array.from({ length: 6 }, () => {
      const r = picker.pick();
      return r.kind === 'pick' ? r.endpoint.endpoint.id : '';
    });
    assert.deepEqual(ids.slice(3), ids.slice(0, 3), 'period 3');
    assert.deepEqual([...ids.slice(0, 3)].sort(), ['e0', 'e1', 'e2']);
    assertShares(shares(picker, ['e0', 'e1', 'e2'], 3000), { e0: 1 / 3, e1: 1 / 3, e2: 1 / 3 }, 0);
  });

  /** In-flight per endpoint, and each strategy's expected shares. */
  const loadCases: { name: string; inFlight: number[]; weights?: number[]; want: Record<string, number[]> }[] = [
    {
      name: 'one idle endpoint among busy ones: least request always finds it, p2c only when it is drawn',
      inFlight: [0, 5, 5, 5],
      want: { least_request: [1, 0, 0, 0], p2c: [0.5, 1 / 6, 1 / 6, 1 / 6], round_robin: [0.25, 0.25, 0.25, 0.25] },
    },
    {
      name: 'idle endpoints tie: least request shares them by weight',
      inFlight: [0, 0, 3],
      weights: [1, 3, 1],
      want: { least_request: [0.25, 0.75, 0] },
    },
  ];
  for (const c of loadCases) {
    it(c.name, () => {
      const t = cluster(endpoints(c.inFlight.length, (i) => ({ weight: c.weights?.[i] ?? 1 })));
      t.states.forEach((s, i) => {
        for (let k = 0; k < c.inFlight[i]; k++) s.tryStart();
      });
      const ids = t.states.map((s) => s.endpoint.id);
      for (const [name, want] of Object.entries(c.want)) {
        const got = shares(buildPicker(name, t.states, pickerContext(t)), ids, N);
        assertShares(got, Object.fromEntries(ids.map((id, i) => [id, want[i]])));
      }
    });
  }
});

describe('picker registry', () => {
  it('lists the built-in strategies', () => {
    assert.deepEqual(registeredPickers().slice(0, 3), ['p2c', 'round_robin', 'least_request']);
  });

  it('a registered strategy can be named by config', () => {
    const t = cluster(endpoints(3));
    registerPicker('first', (cands) => ({ pick: () => ({ kind: 'pick', endpoint: cands[0] }) }));
    const r = buildPicker('first', t.states, pickerContext(t)).pick();
    assert.equal(r.kind === 'pick' && r.endpoint.endpoint.id, 'e0');
    assert.ok(registeredPickers().includes('first'));
  });

  it('an unknown name fails naming the known ones', () => {
    assert.throws(() => pickerFactory('fastest'), /unknown picker 'fastest'; registered: p2c, round_robin, least_request/);
  });

  it('no candidates: unavailable, never a throw', () => {
    const t = cluster([]);
    assert.deepEqual(buildPicker('p2c', [], pickerContext(t)).pick(), { kind: 'unavailable', reason: 'no candidate endpoints' });
    assert.deepEqual(unavailablePicker('x').pick(), { kind: 'unavailable', reason: 'x' });
  });

  it('PickerCache reuses pickers for stable lists only', () => {
    const t = cluster(endpoints(3));
    const cache = new PickerCache('round_robin', pickerContext(t));
    const list = t.states.slice();
    assert.equal(cache.get(list, true), cache.get(list, true));
    assert.notEqual(cache.get(list, false), cache.get(list, false));
    assert.equal(cache.get([], true).pick().kind, 'unavailable');
    assert.throws(() => new PickerCache('nope', pickerContext(t)), /unknown picker/);
  });
});
