// The skew matrix file (bench/skew-matrix/matrix-config.ts): the shipped
// bench/scenarios/skew-matrix.yaml expands to its 24 regular and 3 special
// cells, a max-rate trial's pass rule, and each bad field is one named error.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as path from 'node:path';
import { ConfigError } from '../../../common/config-check';
import { loadMatrix, parseMatrix } from '../../../bench/skew-matrix/matrix-config';
import { trialPassed } from '../../../bench/skew-matrix/max-rate';

test('the shipped matrix expands to rate x slow x fleet cells plus the three specials', async () => {
  const m = await loadMatrix(path.resolve(__dirname, '../../../../bench/scenarios/skew-matrix.yaml'));
  assert.equal(m.cells.length, 27);
  const names = m.cells.map((c) => c.name);
  for (const n of ['r500-d5-n4', 'r2000-d25-n4', 'rmax-d200-n8', 'r2000-a20-n8', 'special-double', 'special-slowmid', 'special-join'])
    assert.ok(names.includes(n), `${n} is a cell`);
  assert.equal(new Set(names).size, names.length, 'names are unique');
  assert.deepEqual(
    m.cells.find((c) => c.name === 'r2000-a20-n8'),
    {
      name: 'r2000-a20-n8',
      rate: 2000,
      sidecars: 8,
      seconds: 15,
      slow: { name: 'a20', delayMs: 0, abortPercent: 20 },
    },
  );
  assert.deepEqual(
    m.cells.filter((c) => c.special).map((c) => [c.name, c.rate, c.sidecars, c.seconds]),
    [
      ['special-double', 2000, 4, 30],
      ['special-slowmid', 2000, 4, 30],
      ['special-join', 2000, 4, 30],
    ],
  );
  assert.equal(m.maxRate, 'auto');
  assert.deepEqual(m.windows, { cold: [0, 5], warm: [10, 15] });
  assert.deepEqual(m.verdict, { p99Ratio: 0.5, sharePercent: 1, convergeS: 1, fairPercent: 75 });
});

test('a minimal matrix takes every default and a numeric max_rate', () => {
  const m = parseMatrix('rates: [100, max]\nslow: [{ name: d9, delay_ms: 9 }]\nfleets: [2]\nmax_rate: 1500\n', 'm.yaml');
  assert.deepEqual(
    m.cells.map((c) => c.name),
    ['r100-d9-n2', 'rmax-d9-n2', 'special-double', 'special-slowmid', 'special-join'],
  );
  assert.equal(m.maxRate, 1500);
  assert.deepEqual(m.load, { clients: 8, maxStreams: 256, pollMs: 250 });
  assert.deepEqual(m.slowmid, { delayMs: 25, slowAtS: 10, recoverAtS: 20 });
});

const BASE = 'rates: [500]\nslow: [{ name: d5, delay_ms: 5 }]\nfleets: [4]\n';
const bad: Array<[string, string, RegExp]> = [
  [
    'a rate that is neither a number nor max',
    'rates: [fast]\nslow: [{ name: d5, delay_ms: 5 }]\nfleets: [4]\n',
    /rates\[0\]: found "fast"; expected a number from 1/,
  ],
  [
    'a healthy "slow" sidecar',
    'rates: [500]\nslow: [{ name: d0 }]\nfleets: [4]\n',
    /slow\[0\]: found a healthy sidecar; expected delay_ms and\/or abort_percent above 0/,
  ],
  [
    'a name unfit for cell names',
    'rates: [500]\nslow: [{ name: D-5, delay_ms: 5 }]\nfleets: [4]\n',
    /slow\[0\]\.name: .*expected lower-case letters and digits/,
  ],
  [
    'a fleet of one',
    'rates: [500]\nslow: [{ name: d5, delay_ms: 5 }]\nfleets: [1]\n',
    /fleets\[0\]: found 1; expected an integer from 2 to 64/,
  ],
  ['an unknown field', `${BASE}second: 15\n`, /second: found an unknown field; expected a known field \(did you mean seconds\?\)/],
  [
    'recovery before slowing',
    `${BASE}specials: { slowmid: { slow_at_s: 20, recover_at_s: 10 } }\n`,
    /specials\.slowmid: found 20 and 10; expected slow_at_s < recover_at_s/,
  ],
  [
    'a join after the run',
    `${BASE}specials: { seconds: 22, join: { join_at_s: 25 } }\n`,
    /specials\.join: found 25; expected join_at_s < specials\.seconds \(22\)/,
  ],
  ['a backwards window', `${BASE}windows: { warm: [15, 10] }\n`, /windows\.warm: found a list; expected \[from_s, to_s\] with from < to/],
];
for (const [name, text, want] of bad) {
  test(`parseMatrix rejects ${name}`, () =>
    assert.throws(
      () => parseMatrix(text, 'm.yaml'),
      (e: unknown) => e instanceof ConfigError && e.issues.length === 1 && want.test(e.message),
    ));
}

const SEARCH = { from: 1000, factor: 2, refine: 2, seconds: 4, answeredPercent: 95, p99Ms: 1000 };
const trials: Array<[string, number, number, number, boolean]> = [
  ['all answered in time, p99 well under 1 s', 4000, 4000, 12, true],
  ['exactly 95 % answered', 3800, 4000, 12, true],
  ['94.9 % answered', 3796, 4000, 12, false],
  ['all answered but p99 at 1 s', 4000, 4000, 1000, false],
  ['no p99 (nothing answered)', 0, 4000, NaN, false],
];
for (const [name, inTime, requested, p99, want] of trials) {
  test(`trialPassed: ${name}`, () => assert.equal(trialPassed(inTime, requested, p99, SEARCH).passed, want));
}
