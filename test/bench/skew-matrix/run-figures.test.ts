// One run's figures (bench/skew-matrix/run-figures.ts) from a synthetic
// recording: windows from the first request, the slow sidecar's share and
// the p99 inside the sidecars per window, which convergence each kind of
// cell measures, and how errors are counted for infergate and for a peer.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { Poll, Sample } from '../../../bench/skew-matrix/analysis';
import { runFigures, type RawRun, type RunShape } from '../../../bench/skew-matrix/run-figures';

const T0_MS = 1_700_000_000_000;
const BOUNDS = [5, 10, 25, 50, Infinity];

/** 100 requests/s for `seconds`, each taking durMs(t) ms (t: seconds from the first). */
function samples(seconds: number, durMs: (t: number) => number): Sample[] {
  return Array.from({ length: seconds * 100 }, (_, i) => ({ startUs: (T0_MS + i * 10) * 1000, status: 200, durUs: durMs(i / 100) * 1000 }));
}

/**
 * Polls every 250 ms from 250 ms before the first request; per(k) gives each of 4 sidecars' calls in the
 * interval after poll k. Fast sidecars' calls fall in the 5 ms bucket, the last sidecar's in the 50 ms one.
 */
function polls(count: number, per: (k: number) => number[], nonOkLast = 0): Poll[] {
  const out: Poll[] = [];
  let calls = [0, 0, 0, 0];
  let bad = 0;
  for (let k = 0; k < count; k++) {
    const buckets = calls.map((c, i) => (i < 3 ? [c, c, c, c, c] : [0, 0, 0, c, c]));
    out.push({ atMs: T0_MS - 250 + k * 250, calls, nonOk: [0, 0, 0, bad], buckets });
    calls = calls.map((c, i) => c + per(k)[i]);
    bad += nonOkLast;
  }
  return out;
}

const shape = (over: Partial<RunShape> = {}): RunShape => ({
  rate: 100,
  sidecars: 4,
  seconds: 15,
  slowIndex: 3,
  watchIndex: 3,
  fairShare: 0.25,
  windows: { cold: [0, 5], warm: [10, 15] },
  pollMs: 250,
  bucketsMs: BOUNDS,
  avoidShare: 0.01,
  reachPart: 0.75,
  ...over,
});

const raw = (over: Partial<RawRun>): RawRun => ({
  target: 'nginx',
  samples: samples(15, () => 2),
  requested: 1500,
  polls: polls(64, () => [10, 10, 10, 0]),
  events: {},
  ...over,
});

test('a regular cell: windows from the first request, the slow share and tail per window, time to avoid it', () => {
  // The slow sidecar gets a quarter of the calls for the first 2 s (polls 1-8), none after.
  const f = runFigures(
    raw({ polls: polls(64, (k) => [10, 10, 10, k >= 1 && k < 9 ? 10 : 0]), samples: samples(15, (t) => (t < 2 ? 40 : 2)) }),
    shape(),
  )!;
  assert.equal(f.windows.cold.sent, 500);
  assert.equal(f.windows.cold.offered, 500);
  assert.equal(f.windows.cold.p99, 40);
  assert.equal(f.windows.warm.p99, 2);
  assert.deepEqual(f.windows.cold.calls, [200, 200, 200, 80]);
  assert.equal(f.windows.cold.slowShare, 80 / 680);
  assert.deepEqual([f.windows.cold.sidecarP99All, f.windows.cold.sidecarP99Fast], [50, 5]);
  assert.equal(f.windows.warm.slowShare, 0);
  assert.deepEqual(f.convergence, { avoid_slow: 2 });
  assert.equal(f.p99PerSecond.length, 15);
  assert.deepEqual([f.p99PerSecond[0], f.p99PerSecond[14]], [40, 2]);
});

test('errors: a peer counts the sidecars non-OK answers, infergate its own final statuses', () => {
  const p = polls(64, () => [10, 10, 10, 10], 2);
  const withFailed = samples(15, () => 2).map((s, i) => (i < 3 ? { ...s, status: 502 } : s));
  const peer = runFigures(raw({ polls: p, samples: withFailed.slice(0, 1490) }), shape())!;
  assert.deepEqual(peer.errors, { clientNonOk: 126, sidecarNonOk: 126, httpFailed: 3, unanswered: 10 });
  assert.equal(peer.clientErrors, 139);
  const ig = runFigures(raw({ target: 'infergate', polls: p, balancerStatuses: { OK: 1497, UNAVAILABLE: 3 } }), shape())!;
  assert.deepEqual(ig.errors, { clientNonOk: 3, sidecarNonOk: 126, httpFailed: 0, unanswered: 0 });
  assert.equal(ig.clientErrors, 3, "the sidecars' failed attempts were retried: the client saw the balancer's 3");
});

test('slowmid: avoidance timed from the PUT that made it slow, recovery from the PUT that healed it', () => {
  const per = (k: number) => [10, 10, 10, k <= 40 ? 10 : k < 45 ? 2 : k <= 80 ? 0 : 10];
  const f = runFigures(
    raw({
      samples: samples(30, () => 2),
      requested: 3000,
      polls: polls(124, per),
      events: { slow: T0_MS + 10_000, recover: T0_MS + 20_000 },
    }),
    shape({ seconds: 30, special: 'slowmid' }),
  )!;
  assert.deepEqual(f.eventsS, { slow: 10, recover: 20 });
  assert.deepEqual(f.convergence, { avoid_after_turning_slow: 1, back_after_recovery: 0 });
});

test('join: from the first answer until 75 % of a fair share; never answering is never converging', () => {
  const per = (k: number) => [10, 10, 10, k <= 40 ? 0 : 10];
  const f = runFigures(
    raw({ samples: samples(30, () => 2), requested: 3000, polls: polls(124, per), events: { join_ready: T0_MS + 9_500 } }),
    shape({ seconds: 30, special: 'join', slowIndex: null }),
  )!;
  assert.equal(f.eventsS.first_answer, 10);
  assert.deepEqual(f.convergence, { join_to_fair: 0 });
  assert.deepEqual(f.informative, { first_answer_after_ready: 0.5 }, 'ready at 9.5 s, first answer after the poll at 10 s');
  assert.equal(f.windows.cold.slowShare, null, 'no slow sidecar in a join cell');
  const never = runFigures(
    raw({ samples: samples(30, () => 2), polls: polls(124, () => [10, 10, 10, 0]) }),
    shape({ seconds: 30, special: 'join', slowIndex: null }),
  )!;
  assert.deepEqual(never.convergence, { join_to_fair: null });
});

test('double: the big sidecar reaching its capacity share is informative, not judged', () => {
  const f = runFigures(raw({ polls: polls(64, () => [10, 10, 10, 20]) }), shape({ special: 'double', slowIndex: null, fairShare: 0.4 }))!;
  assert.deepEqual(f.convergence, {});
  assert.deepEqual(f.informative, { double_to_capacity_share: 0 });
});

test('no log, no figures', () => assert.equal(runFigures(raw({ samples: [] }), shape()), null));
