// The skew matrix's pure figures (bench/skew-matrix/analysis.ts) on
// synthetic h2load logs and /metrics polls: the log parser, nearest-rank
// percentiles, windows by start time, 1 s share windows from 250 ms polls,
// and the convergence times built on them.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  firstAnswerS,
  latencyWindow,
  parseH2loadLog,
  percentile,
  shareSeries,
  sidecarP99,
  timeToReach,
  timeToStayUnder,
  type Poll,
} from '../../../bench/skew-matrix/analysis';

const T0_US = 1_700_000_000_000_000;

test('parseH2loadLog reads start, status and duration, keeps failed streams, skips other lines', () => {
  const text = `${T0_US}\t200\t1500\n${T0_US + 10}\t-1\t20\textra\n\nnot a row\n${T0_US + 20}\t200\n`;
  assert.deepEqual(parseH2loadLog(text), [
    { startUs: T0_US, status: 200, durUs: 1500 },
    { startUs: T0_US + 10, status: -1, durUs: 20 },
  ]);
});

const ranks: Array<[string, number[], number, number]> = [
  ['p50 of 1..1000', Array.from({ length: 1000 }, (_, i) => i + 1), 50, 500],
  ['p99 of 1..1000 is the 10th largest', Array.from({ length: 1000 }, (_, i) => i + 1), 99, 990],
  ['p99.9 of 1..1000', Array.from({ length: 1000 }, (_, i) => i + 1), 99.9, 999],
  ['p99 of 10 values is the largest', [1, 2, 3, 4, 5, 6, 7, 8, 9, 10], 99, 10],
  ['one value', [7], 50, 7],
];
for (const [name, values, p, want] of ranks) test(`percentile: ${name}`, () => assert.equal(percentile(values, p), want));
test('percentile of nothing is NaN', () => assert.ok(Number.isNaN(percentile([], 99))));

test('latencyWindow takes requests by start time, counts failed ones as sent but not in the percentiles', () => {
  // One request every 10 ms for 10 s; those started in [2 s, 3 s) take 50 ms, the rest 2 ms; one in the window failed.
  const samples = Array.from({ length: 1000 }, (_, i) => ({
    startUs: T0_US + i * 10_000,
    status: i === 250 ? -1 : 200,
    durUs: i >= 200 && i < 300 ? 50_000 : 2_000,
  }));
  const w = latencyWindow(samples, T0_US, 2, 3);
  assert.deepEqual({ sent: w.sent, answered: w.answered, p50: w.p50, p99: w.p99 }, { sent: 100, answered: 99, p50: 50, p99: 50 });
  const cold = latencyWindow(samples, T0_US, 0, 5);
  assert.equal(cold.sent, 500);
  assert.equal(cold.p50, 2);
  assert.equal(cold.p99, 50, '99 slow of 499 answered: the tail is the slow second');
  assert.ok(Number.isNaN(latencyWindow(samples, T0_US, 20, 25).p99), 'an empty window has no percentiles');
});

/** Polls at t0 + k x 250 ms; perInterval(k) gives each sidecar's calls in the interval after poll k. */
function polls(count: number, perInterval: (k: number) => number[], t0Ms = T0_US / 1000): Poll[] {
  const out: Poll[] = [];
  let calls = perInterval(0).map(() => 0);
  for (let k = 0; k < count; k++) {
    out.push({ atMs: t0Ms + k * 250, calls, nonOk: calls.map(() => 0), buckets: calls.map(() => []) });
    calls = calls.map((c, i) => c + perInterval(k)[i]);
  }
  return out;
}

test('the slow sidecar stays under 1 % from the window after the last one it had 1 % or more in', () => {
  // 10 calls of 100 per interval to the slow sidecar for the first 2 s, none after.
  const p = polls(61, (k) => [30, 30, 30, k < 8 ? 10 : 0]);
  const s = shareSeries(p, T0_US / 1000, 3, 250);
  assert.equal(s[0].startS, 0);
  assert.equal(s[0].share, 0.1);
  assert.equal(s[7].share, 10 / 370, 'the window from 1.75 s still holds one interval of slow calls');
  assert.equal(timeToStayUnder(s, 0, 15, 0.01), 2);
});

const stayCases: Array<[string, (k: number) => number[], number | null]> = [
  ['never sent anything to it: 0', () => [30, 30, 30, 0], 0],
  ['always 10 %: never (null)', () => [30, 30, 30, 10], null],
  ['one stray call in a second: under 1 % of 361', (k) => [30, 30, 30, k === 20 ? 1 : 0], 0],
  ['back above 1 % at the end: never (null)', (k) => [30, 30, 30, k > 50 ? 10 : 0], null],
];
for (const [name, per, want] of stayCases) {
  test(`timeToStayUnder: ${name}`, () =>
    assert.equal(timeToStayUnder(shareSeries(polls(61, per), T0_US / 1000, 3, 250), 0, 15, 0.01), want));
}

test('timeToStayUnder counts only windows inside [from, until]: a turn-slow phase from 10 s to 20 s', () => {
  // Slow from 10 s (poll 40): 10 calls per interval until 11 s (poll 44), nothing until it recovers at 20 s,
  // then 5 per interval for 1 s and its fair 30 after.
  const p = polls(121, (k) => [30, 30, 30, k < 40 ? 30 : k < 44 ? 10 : k < 80 ? 0 : k < 84 ? 5 : 30]);
  const s = shareSeries(p, T0_US / 1000, 3, 250);
  assert.equal(timeToStayUnder(s, 10, 20, 0.01), 1);
  assert.equal(timeToReach(s, 20, 0.75 * 0.25), 0.75, 'back to 75 % of a fair quarter three intervals into the first window after 20 s');
});

test('a joiner: its first answer, then the time until its 1 s share reaches 75 % of fair', () => {
  // Absent until 10 s, then 5 calls per interval for 1 s, then its fair 30.
  const p = polls(121, (k) => [30, 30, 30, k < 40 ? 0 : k < 44 ? 5 : 30]);
  const first = firstAnswerS(p, T0_US / 1000, 3);
  assert.equal(first, 10, 'the poll before the one that first shows it');
  const s = shareSeries(p, T0_US / 1000, 3, 250);
  assert.equal(timeToReach(s, first!, 0.75 * 0.25), 0.75);
  assert.equal(timeToReach(s, first!, 0.9), null, 'a share it never reaches');
  assert.equal(
    firstAnswerS(
      polls(20, () => [30, 30, 30, 0]),
      T0_US / 1000,
      3,
    ),
    null,
  );
});

test('shareSeries leaves out windows with almost no calls (before and after the load) and the ones before the first request', () => {
  const p = polls(30, (k) => (k < 4 || k > 20 ? [0, 0, 0, 0] : [30, 30, 30, 10]), T0_US / 1000 - 1000);
  const s = shareSeries(p, T0_US / 1000, 3, 250);
  assert.ok(s.length > 0);
  assert.ok(
    s.every((w) => w.total >= 10 && w.startS >= 0),
    'every window counted has calls and starts at 0 or later',
  );
});

test('sidecarP99 is the bucket bound where 99 % of the listed sidecars calls fall', () => {
  const bounds = [5, 10, 25, 50, Infinity];
  const poll = (b: number[][]): Poll => ({ atMs: 0, calls: b.map((x) => x[4]), nonOk: [0, 0], buckets: b });
  const before = poll([
    [0, 0, 0, 0, 0],
    [0, 0, 0, 0, 0],
  ]);
  // Sidecar 0: 1000 calls under 5 ms. Sidecar 1 (slow): 100 calls between 25 and 50 ms.
  const after = poll([
    [1000, 1000, 1000, 1000, 1000],
    [0, 0, 0, 100, 100],
  ]);
  assert.equal(sidecarP99(before, after, [0], bounds), 5);
  assert.equal(sidecarP99(before, after, [0, 1], bounds), 50, '100 of 1100 calls are slow: they set the p99');
  assert.ok(Number.isNaN(sidecarP99(before, before, [0, 1], bounds)));
});
