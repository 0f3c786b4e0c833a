import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { VersionSplitter, type SplitRoute } from '../../../balancer/routing/version-split';
import { rng } from '../../helpers/balancer-fixture';

const N = 20_000;

/** Share of each version (or '(any)' for undefined) over n calls. */
function shares(n: number, f: () => string | undefined): Record<string, number> {
  const out: Record<string, number> = {};
  for (let i = 0; i < n; i++) {
    const v = f() ?? '(any)';
    out[v] = (out[v] ?? 0) + 1 / n;
  }
  return out;
}

interface Case {
  name: string;
  route: SplitRoute;
  requested?: string;
  want: Record<string, number>;
  /** Absolute tolerance on each share (0: exact). */
  tol: number;
}

// Tolerances are about 4 standard deviations of the share over N calls (5 %: ±0.15 % per σ).
const cases: Case[] = [
  {
    name: '95/5 split',
    route: {
      split: [
        { version: '1', weight: 95 },
        { version: '2', weight: 5 },
      ],
    },
    want: { 1: 0.95, 2: 0.05 },
    tol: 0.006,
  },
  {
    name: 'three-way split by relative weight',
    route: {
      split: [
        { version: '1', weight: 1 },
        { version: '2', weight: 1 },
        { version: '3', weight: 2 },
      ],
    },
    want: { 1: 0.25, 2: 0.25, 3: 0.5 },
    tol: 0.015,
  },
  {
    name: 'weight 0 (a rollback) gets nothing',
    route: {
      split: [
        { version: '1', weight: 0 },
        { version: '2', weight: 10 },
      ],
    },
    want: { 2: 1 },
    tol: 0,
  },
  {
    name: 'a named version bypasses the split',
    route: {
      split: [
        { version: '1', weight: 95 },
        { version: '2', weight: 5 },
      ],
    },
    requested: '7',
    want: { 7: 1 },
    tol: 0,
  },
  { name: 'a named version bypasses a pin', route: { version: '3' }, requested: '2', want: { 2: 1 }, tol: 0 },
  { name: 'pinned version', route: { version: '3' }, want: { 3: 1 }, tol: 0 },
  { name: 'empty requested version counts as none', route: { version: '3' }, requested: '', want: { 3: 1 }, tol: 0 },
  { name: 'no pin, no split: any version', route: {}, want: { '(any)': 1 }, tol: 0 },
];

describe('VersionSplitter.choose', () => {
  for (const c of cases) {
    it(c.name, () => {
      const s = new VersionSplitter(c.route, rng(7));
      const got = shares(N, () => s.choose(c.requested));
      assert.deepEqual(Object.keys(got).sort(), Object.keys(c.want).sort());
      for (const [v, w] of Object.entries(c.want))
        assert.ok(Math.abs(got[v] - w) <= c.tol + 1e-9, `version ${v}: ${got[v]}, want ${w} ± ${c.tol}`);
    });
  }

  it('a named version consumes no randomness (the split stream is unchanged)', () => {
    let draws = 0;
    const counting = () => (draws++, 0.5);
    const s = new VersionSplitter({ split: [{ version: '1', weight: 1 }] }, counting);
    s.choose('4');
    assert.equal(draws, 0);
  });

  it('a random value at the top end still lands on a weighted version', () => {
    const s = new VersionSplitter(
      {
        split: [
          { version: '1', weight: 5 },
          { version: '2', weight: 0 },
        ],
      },
      () => 0.9999999999999999,
    );
    assert.equal(s.choose(), '1');
  });
});

describe('VersionSplitter.shadow', () => {
  const route: SplitRoute = { split: [{ version: '1', weight: 1 }], shadow: { version: '3', percent: 10 } };

  it('copies shadow.percent of calls', () => {
    const s = new VersionSplitter(route, rng(11));
    const got = shares(N, () => s.shadow('1'));
    assert.ok(Math.abs(got['3'] - 0.1) < 0.009, `shadowed ${got['3']}, want 0.10 ± 0.009`);
  });

  const table: [name: string, r: SplitRoute, chosen: string | undefined, want: string | undefined][] = [
    ['no shadow configured', { split: route.split }, '1', undefined],
    ['percent 0', { shadow: { version: '3', percent: 0 } }, '1', undefined],
    ['percent 100', { shadow: { version: '3', percent: 100 } }, '1', '3'],
    ['a call that itself goes to the shadow version is not copied', { shadow: { version: '3', percent: 100 } }, '3', undefined],
    ['calls to any version are copied', { shadow: { version: '3', percent: 100 } }, undefined, '3'],
  ];
  for (const [name, r, chosen, want] of table) {
    it(name, () => assert.equal(new VersionSplitter(r, rng(1)).shadow(chosen), want));
  }
});
