import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import {
  affectsCandidates,
  ClusterSnapshot,
  shardSubset,
  withoutTried,
  type CandidatePolicy,
  type CandidateRequest,
  type Candidates,
} from '../../../balancer/routing/candidates';
import type { EndpointState } from '../../../balancer/routing/endpoint-state';
import type { ClusterEndpoint } from '../../../discovery/types';
import { cluster, endpoint, endpoints, policy, type TestCluster } from '../../helpers/balancer-fixture';

const MODEL = 'ranker';

/** Endpoint fixture row: id, overrides, and test-only state (ejected, breaker full, reported in-flight). */
type Row = [
  id: string,
  over?: Partial<ClusterEndpoint>,
  state?: { ejected?: boolean; full?: boolean; reportedInFlight?: number; localInFlight?: number },
];

/** Builds states with the row's conditions; the breaker cap is 2 so "full" is two calls. */
function setup(rows: Row[]): TestCluster {
  const t = cluster(
    rows.map(([id, over]) => endpoint(id, over)),
    policy({ circuit_breaker: { max_in_flight: 2 } }),
  );
  rows.forEach(([, , st], i) => {
    const s = t.states[i];
    // Test shortcut: the detector's own sequence is covered in outlier-detector.test.ts.
    if (st?.ejected) s.outlier.ejected = true;
    if (st?.full) {
      s.tryStart();
      s.tryStart();
    }
    for (let k = 0; k < (st?.localInFlight ?? 0); k++) s.tryStart();
    if (st?.reportedInFlight !== undefined) s.onLoadReport({ queueDepth: 0, inFlight: st.reportedInFlight, latencyMs: 0 });
  });
  return t;
}

const ids = (c: Candidates) => (c.kind === 'ok' ? c.endpoints.map((s) => s.endpoint.id).sort() : c.reason);
const noZone = policy({ zone_affinity: { enabled: false, spillover_in_flight: 32 } });
const zoned = (spill: number) => policy({ zone_affinity: { enabled: true, spillover_in_flight: spill } });

interface Case {
  name: string;
  rows: Row[];
  req?: CandidateRequest;
  policy?: CandidatePolicy;
  /** The balancer's zone. */
  zone?: string;
  /** Advance the clock before selecting (ages reports). */
  ageMs?: number;
  /** Expected ids (sorted), how many endpoints (which ones is the shard tests' business), or the reason. */
  want: string[] | number | RegExp;
  /** Expected panic/spilled flags, when given. */
  panic?: boolean;
  spilled?: boolean;
}

const cases: Case[] = [
  {
    name: 'healthy endpoints only: draining and unhealthy left out',
    rows: [['a'], ['b', { health: 'DRAINING' }], ['c', { health: 'UNHEALTHY' }], ['d'], ['e']],
    want: ['a', 'd', 'e'],
  },
  { name: 'ejected endpoints left out', rows: [['a'], ['b', {}, { ejected: true }], ['c'], ['d']], want: ['a', 'c', 'd'] },
  { name: 'breaker-full endpoints left out', rows: [['a', {}, { full: true }], ['b'], ['c']], want: ['b', 'c'] },
  {
    name: 'every breaker full: none, naming the model',
    rows: [
      ['a', {}, { full: true }],
      ['b', {}, { full: true }],
    ],
    want: /every candidate endpoint of model 'ranker' is at its in-flight cap/,
  },
  {
    name: 'version filter',
    rows: [
      ['a', { versions: ['1'] }],
      ['b', { versions: ['1', '2'] }],
      ['c', { versions: ['2'] }],
      ['d', { versions: [] }],
    ],
    req: { version: '2' },
    want: ['b', 'c'],
  },
  {
    name: 'no version asked: every endpoint of the model',
    rows: [
      ['a', { versions: ['1'] }],
      ['b', { versions: [] }],
    ],
    want: ['a', 'b'],
  },
  {
    name: 'unknown version: none, naming model and version',
    rows: [['a']],
    req: { version: '9' },
    want: /no endpoint of model 'ranker' serves version '9'/,
  },
  { name: 'empty cluster', rows: [], want: /no endpoint of model 'ranker'/ },
  { name: 'all draining', rows: [['a', { health: 'DRAINING' }]], want: /every endpoint of model 'ranker' is draining/ },
  {
    name: 'at the panic threshold (50 % usable): no panic',
    rows: [['a'], ['b'], ['c', { health: 'UNHEALTHY' }], ['d', {}, { ejected: true }]],
    want: ['a', 'b'],
    panic: false,
  },
  {
    name: 'below the panic threshold: every non-draining endpoint, ejected and unhealthy too',
    rows: [
      ['a'],
      ['b', { health: 'UNHEALTHY' }],
      ['c', {}, { ejected: true }],
      ['d', { health: 'UNHEALTHY' }],
      ['e', { health: 'DRAINING' }],
    ],
    want: ['a', 'b', 'c', 'd'],
    panic: true,
  },
  {
    name: 'panic still skips full breakers',
    rows: [
      ['a', { health: 'UNHEALTHY' }, { full: true }],
      ['b', { health: 'UNHEALTHY' }],
    ],
    want: ['b'],
    panic: true,
  },
  {
    name: 'panic threshold 0: no panic, none with counts',
    rows: [
      ['a', { health: 'UNHEALTHY' }],
      ['b', {}, { ejected: true }],
    ],
    policy: policy({ outlier_detection: { ...policy().outlier_detection, panic_threshold_percent: 0 } }),
    want: /no healthy endpoint of model 'ranker': 1 ejected, 1 unhealthy/,
  },
  {
    name: 'zone affinity: local zone while its mean in-flight is at most spillover',
    rows: [
      ['a', { zone: 'z1' }, { reportedInFlight: 4 }],
      ['b', { zone: 'z1' }, { reportedInFlight: 6 }],
      ['c', { zone: 'z2' }],
    ],
    zone: 'z1',
    policy: zoned(5),
    want: ['a', 'b'],
    spilled: false,
  },
  {
    name: 'zone affinity: mean above spillover spills to every zone',
    rows: [
      ['a', { zone: 'z1' }, { reportedInFlight: 5 }],
      ['b', { zone: 'z1' }, { reportedInFlight: 6 }],
      ['c', { zone: 'z2' }],
    ],
    zone: 'z1',
    policy: zoned(5),
    want: ['a', 'b', 'c'],
    spilled: true,
  },
  {
    name: "zone affinity: a stale report falls back to this balancer's own in-flight",
    rows: [
      ['a', { zone: 'z1' }, { reportedInFlight: 50, localInFlight: 1 }],
      ['c', { zone: 'z2' }],
    ],
    zone: 'z1',
    policy: zoned(1),
    ageMs: 2001,
    want: ['a'],
  },
  {
    name: 'zone affinity: unusable local endpoints do not count; none usable spills',
    rows: [
      ['a', { zone: 'z1', health: 'UNHEALTHY' }],
      ['b', { zone: 'z2' }],
      ['c', { zone: 'z2' }],
      ['d', { zone: 'z2' }],
    ],
    zone: 'z1',
    policy: zoned(5),
    want: ['b', 'c', 'd'],
  },
  {
    name: 'zone affinity: local endpoints all full spill over',
    rows: [
      ['a', { zone: 'z1' }, { full: true }],
      ['b', { zone: 'z2' }],
    ],
    zone: 'z1',
    policy: zoned(5),
    want: ['b'],
  },
  {
    name: 'zone affinity off: every zone',
    rows: [
      ['a', { zone: 'z1' }],
      ['b', { zone: 'z2' }],
    ],
    zone: 'z1',
    policy: noZone,
    want: ['a', 'b'],
  },
  {
    name: 'balancer without a zone: every zone',
    rows: [
      ['a', { zone: 'z1' }],
      ['b', { zone: 'z2' }],
    ],
    zone: '',
    policy: zoned(5),
    want: ['a', 'b'],
  },
  {
    name: 'shard key narrows to subset_size endpoints, across zones',
    rows: [
      ['a', { zone: 'z1' }],
      ['b', { zone: 'z2' }],
      ['c', { zone: 'z2' }],
      ['d', { zone: 'z2' }],
    ],
    zone: 'z1',
    req: { shardKey: 'tenant-1' },
    policy: policy({ shard: { from: 'header', key: 'x-tenant', subset_size: 2 } }),
    want: 2,
  },
  {
    name: 'no shard key in the call: no narrowing',
    rows: [['a'], ['b'], ['c']],
    policy: policy({ shard: { from: 'header', key: 'x-tenant', subset_size: 1 } }),
    want: ['a', 'b', 'c'],
  },
];

describe('ClusterSnapshot.select', () => {
  for (const c of cases) {
    it(c.name, () => {
      const t = setup(c.rows);
      const pol = c.policy ?? noZone;
      const snap = ClusterSnapshot.build(MODEL, t.states, c.zone ?? 'a', pol.outlier_detection.panic_threshold_percent);
      t.clock.advance(c.ageMs ?? 0);
      const got = snap.select(c.req ?? {}, pol, t.clock.now());
      if (Array.isArray(c.want)) assert.deepEqual(ids(got), c.want);
      else if (typeof c.want === 'number') assert.equal(got.kind === 'ok' && got.endpoints.length, c.want);
      else assert.match(String(ids(got)), c.want);
      if (c.panic !== undefined) assert.equal(got.kind === 'ok' && got.panic, c.panic);
      if (c.spilled !== undefined) assert.equal(got.kind === 'ok' && got.spilled, c.spilled);
    });
  }

  it("plain calls get the snapshot's own list (stable) until a breaker fills", () => {
    const t = setup([['a'], ['b']]);
    const snap = ClusterSnapshot.build(MODEL, t.states, 'a', 50);
    const one = snap.select({}, noZone, 0);
    const two = snap.select({}, noZone, 0);
    assert.ok(one.kind === 'ok' && two.kind === 'ok');
    assert.equal(one, two, 'the same result object: nothing allocated');
    assert.equal(one.stable, true);
    t.states[0].tryStart();
    t.states[0].tryStart();
    const three = snap.select({}, noZone, 0);
    assert.ok(three.kind === 'ok' && !three.stable && three.endpoints.length === 1);
  });
});

describe('shard subsets (rendezvous hashing)', () => {
  const KEYS = Array.from({ length: 2000 }, (_, i) => `tenant-${i}`);
  const subsetOf = (states: readonly EndpointState[], key: string, k: number) => {
    const c = shardSubset({ kind: 'ok', endpoints: states, stable: true, panic: false, spilled: false }, key, k);
    return c.endpoints.map((s) => s.endpoint.id).sort();
  };

  it('same key, same subset: across calls, rebuilds and list order', () => {
    const t = cluster(endpoints(12));
    const reversed = [...t.states].reverse();
    for (const key of KEYS.slice(0, 200)) {
      const s = subsetOf(t.states, key, 3);
      assert.equal(s.length, 3);
      assert.deepEqual(subsetOf(t.states, key, 3), s);
      assert.deepEqual(subsetOf(reversed, key, 3), s);
    }
  });

  it('keys spread evenly: each endpoint is in ~subset/n of the subsets', () => {
    const t = cluster(endpoints(10));
    const count: Record<string, number> = {};
    for (const key of KEYS) for (const id of subsetOf(t.states, key, 3)) count[id] = (count[id] ?? 0) + 1;
    for (const id of Object.keys(count)) {
      const share = count[id] / KEYS.length;
      assert.ok(Math.abs(share - 0.3) < 0.05, `${id} in ${share.toFixed(3)} of subsets, want 0.3 ± 0.05`);
    }
  });

  it('removing one endpoint moves only the keys that had it, each by that one member', () => {
    const t = cluster(endpoints(10));
    const removed = t.states[4];
    const rest = t.states.filter((s) => s !== removed);
    let moved = 0;
    for (const key of KEYS) {
      const before = subsetOf(t.states, key, 3);
      const after = subsetOf(rest, key, 3);
      if (!before.includes('e4')) {
        assert.deepEqual(after, before, `${key} did not include e4 and must not move`);
        continue;
      }
      moved++;
      assert.deepEqual(
        after.filter((id) => before.includes(id)),
        before.filter((id) => id !== 'e4'),
        `${key} keeps its other members`,
      );
    }
    assert.ok(Math.abs(moved / KEYS.length - 0.3) < 0.05, `moved ${moved} of ${KEYS.length} keys, want ~30 % (subset 3 of 10)`);
  });

  it('subset at least the list: the list itself', () => {
    const t = cluster(endpoints(2));
    assert.deepEqual(subsetOf(t.states, 'k', 3), ['e0', 'e1']);
  });
});

describe('helpers', () => {
  it('withoutTried drops endpoints a call already tried, unless none would be left', () => {
    const t = cluster(endpoints(3));
    const all = { kind: 'ok', endpoints: t.states, stable: true, panic: false, spilled: false } as const;
    assert.deepEqual(
      withoutTried(all, [t.states[1]]).endpoints.map((s) => s.endpoint.id),
      ['e0', 'e2'],
    );
    assert.equal(withoutTried(all, []), all);
    assert.equal(withoutTried(all, t.states), all);
  });

  it('affectsCandidates: routing fields yes, load no', () => {
    const a = endpoint('a');
    const table: [Partial<ClusterEndpoint>, boolean][] = [
      [{ load: { queueDepth: 9, inFlight: 9, latencyMs: 9 } }, false],
      [{ health: 'DRAINING' }, true],
      [{ zone: 'z9' }, true],
      [{ weight: 2 }, true],
      [{ versions: ['1', '2'] }, true],
      [{ versions: ['2'] }, true],
    ];
    for (const [over, want] of table) assert.equal(affectsCandidates(a, { ...a, ...over }), want, JSON.stringify(over));
  });
});
