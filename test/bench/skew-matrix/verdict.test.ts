// The skew matrix's verdict rule (bench/skew-matrix/verdict.ts), a table:
// half the best peer's p99 where the slow sidecar sets that peer's p99, not
// above it anywhere else, convergence within 1 s, and no verdict without a
// peer or infergate.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { judgeCell, slowSetsP99, type RunInput, type WindowInput } from '../../../bench/skew-matrix/verdict';
import type { VerdictSpec } from '../../../bench/skew-matrix/matrix-config';

const SPEC: VerdictSpec = { p99Ratio: 0.5, sharePercent: 1, convergeS: 1, fairPercent: 75 };

/** A window: p99, the slow sidecar's share, and whether the fleet's p99 inside the sidecars is above the fast ones'. */
const w = (p99: number, slowShare: number | null = 0.15, slowInTail = true): WindowInput => ({
  p99,
  slowShare,
  sidecarP99All: slowInTail ? 50 : 10,
  sidecarP99Fast: 10,
});

const run = (target: string, cold: WindowInput, warm: WindowInput = cold, convergence: Record<string, number | null> = {}): RunInput => ({
  target,
  windows: { cold, warm },
  convergence,
});

const FAST = { avoid_slow: 0.5 };

const cases: Array<[string, RunInput[], 'won' | 'lost' | 'n/a', RegExp[]]> = [
  [
    'under half the slow-set best peer, converged',
    [run('infergate', w(12, 0.001), w(12, 0.001), FAST), run('nginx', w(30)), run('haproxy', w(40))],
    'won',
    [],
  ],
  [
    'above half the slow-set best peer',
    [run('infergate', w(16, 0.001), w(14, 0.001), FAST), run('nginx', w(30)), run('haproxy', w(40))],
    'lost',
    [/^cold p99 16\.0 ms > 0\.5 x nginx 30\.0 ms = 15\.0 ms \(the slow sidecar had 15\.0 % of nginx's calls\)$/],
  ],
  [
    'best peer avoided the slow sidecar (share under 1 %): only not above it',
    [run('infergate', w(9), w(9), FAST), run('nginx', w(10, 0.005)), run('haproxy', w(40))],
    'won',
    [],
  ],
  [
    'best peer avoided it, infergate above the best peer',
    [run('infergate', w(11), w(9), FAST), run('nginx', w(10, 0.005)), run('haproxy', w(40))],
    'lost',
    [/^cold p99 11\.0 ms > nginx 10\.0 ms$/],
  ],
  [
    "slow share over 1 % but the fleet's p99 is the fast sidecars': only not above",
    [run('infergate', w(20), w(20), FAST), run('nginx', w(20, 0.2, false)), run('haproxy', w(25, 0.2, false))],
    'won',
    [],
  ],
  [
    'warm lost while cold won',
    [run('infergate', w(10), w(21), FAST), run('nginx', w(30), w(40)), run('haproxy', w(35), w(40))],
    'lost',
    [/^warm p99 21\.0 ms > 0\.5 x nginx 40\.0 ms = 20\.0 ms/],
  ],
  [
    'never converged',
    [run('infergate', w(5), w(5), { avoid_slow: null }), run('nginx', w(30))],
    'lost',
    [/^avoid_slow: never within the run > 1 s$/],
  ],
  [
    'converged too late',
    [run('infergate', w(5), w(5), { join_to_fair: 1.25 }), run('nginx', w(30))],
    'lost',
    [/^join_to_fair: 1\.25 s > 1 s$/],
  ],
  ['a cell with no convergence measure is judged on p99 alone', [run('infergate', w(5, null)), run('nginx', w(6, null))], 'won', []],
  [
    'infergate answered nothing in a window',
    [run('infergate', w(NaN), w(5), FAST), run('nginx', w(30))],
    'lost',
    [/^cold: infergate answered nothing/],
  ],
  ['no peer', [run('infergate', w(5))], 'n/a', [/no peer was run/]],
  ['no infergate', [run('nginx', w(5))], 'n/a', [/infergate was not run/]],
];

for (const [name, runs, status, notes] of cases) {
  test(`judgeCell: ${name} -> ${status}`, () => {
    const v = judgeCell(runs, SPEC);
    assert.equal(v.status, status, v.notes.join('; '));
    assert.equal(v.notes.length, notes.length, v.notes.join('; '));
    notes.forEach((re, i) => assert.match(v.notes[i], re));
  });
}

test('judgeCell names the best peer per window and the limit it applied', () => {
  const v = judgeCell([run('infergate', w(10), w(10), FAST), run('nginx', w(30), w(50)), run('haproxy', w(40), w(24))], SPEC);
  assert.deepEqual(
    v.windows.map((x) => [x.window, x.bestPeer, x.limit, x.met]),
    [
      ['cold', 'nginx', 15, true],
      ['warm', 'haproxy', 12, true],
    ],
  );
});

test('judgeCell remarks on errors handed to clients without letting them decide the verdict', () => {
  const quiet = judgeCell([run('infergate', w(10), w(10), FAST), run('nginx', w(30))], SPEC);
  assert.deepEqual(quiet.remarks, []);
  const v = judgeCell(
    [
      { ...run('infergate', w(12, 0.2, false), w(12, 0.2, false)), clientErrors: 0 },
      { ...run('haproxy', w(6, 0.2, false)), clientErrors: 1592 },
    ],
    SPEC,
  );
  assert.equal(v.status, 'lost', 'the peer failing fast still has the lower p99');
  assert.deepEqual(v.remarks, ['clients got errors (counted in the p99s as answers): infergate 0, haproxy 1592']);
});

const setBy: Array<[string, WindowInput, boolean]> = [
  ['15 % share, tail above the fast sidecars', w(30, 0.15), true],
  ['exactly 1 %', w(30, 0.01), true],
  ['0.9 %', w(30, 0.009), false],
  ['no slow sidecar in the cell', w(30, null), false],
  ['share over 1 % but the tail is the fast sidecars', w(30, 0.3, false), false],
];
for (const [name, win, want] of setBy) test(`slowSetsP99: ${name}`, () => assert.equal(slowSetsP99(win, SPEC), want));
