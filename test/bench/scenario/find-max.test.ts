// --find-max's search (bench/scenario/find-max.ts) against a fake target: a
// pure function of the offered rate giving p99, errors, the answered rate and
// whether the generator kept its schedule. No load is offered.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { searchMaxRate, verdict, type SearchOptions } from '../../../bench/scenario/find-max';
import type { LoadResult } from '../../../bench/harness/types';

/** How the fake target behaves at a rate. */
interface Fake {
  p99(rate: number): number;
  errorRate?(rate: number): number;
  /** Answers per second (default: all of the offered rate). */
  achieved?(rate: number): number;
  generatorLimited?(rate: number): boolean;
}

function result(rate: number, f: Fake): LoadResult {
  const p99 = f.p99(rate);
  const lat = { p50: p99 / 4, p90: p99 / 2, p99, p999: p99 * 1.5, max: p99 * 2, mean: p99 / 3 };
  return {
    label: `fake @${rate}/s`,
    target: 'fake',
    mode: 'unary',
    loop: 'open',
    offeredRate: rate,
    concurrency: null,
    achievedRate: f.achieved?.(rate) ?? rate,
    durationMs: 1000,
    sent: rate,
    ok: rate,
    errors: {},
    errorRate: f.errorRate?.(rate) ?? 0,
    latencyMs: lat,
    histogram: '',
    percentileCurve: [],
    series: [],
    generator: { maxLagMs: 0, lateFraction: 0, limited: f.generatorLimited?.(rate) ?? false, cpuCores: 0.5 },
  };
}

/** Runs the search against a fake; returns the outcome and the rates tried, in order. */
async function search(o: SearchOptions, f: Fake) {
  const rates: number[] = [];
  const out = await searchMaxRate(o, async (rate) => (rates.push(rate), result(rate, f)));
  return { ...out, rates, bestRate: out.best?.offeredRate ?? undefined };
}

/** A knee: latency is fine below it and blows past any SLO above it. */
const knee = (at: number): Fake => ({ p99: (r) => (r <= at ? 5 + (45 * r) / at : 5000) });

test('finds a latency knee within the precision, from below, for knees above and below the start rate', async () => {
  for (const at of [37, 100, 1370, 9000, 123_456]) {
    const out = await search({ sloP99Ms: 1000, startRate: 100 }, knee(at));
    assert.ok(
      out.bestRate !== undefined && out.bestRate <= at && out.bestRate >= 0.95 * at,
      `knee ${at}: best ${out.bestRate} (tried ${out.rates.join(', ')})`,
    );
    assert.match(out.reason, /the knee is between/);
    assert.ok(out.rates.length <= 20, `bounded: ${out.rates.length} steps`);
    assert.equal(out.tried.length, out.rates.length);
  }
});

test('growth doubles until a failure, then bisects between the best pass and the lowest failure', async () => {
  const out = await search({ sloP99Ms: 1000, startRate: 100, precision: 0.1 }, knee(1000));
  assert.deepEqual(out.rates, [100, 200, 400, 800, 1600, 1200, 1000, 1100]);
  assert.equal(out.bestRate, 1000);
});

test('errors above 0.1 % fail a step even with a low p99; maxErrorRate moves the bar', async () => {
  const errs: Fake = { p99: () => 10, errorRate: (r) => (r > 900 ? 0.002 : 0.0005) };
  const strict = await search({ sloP99Ms: 1000, startRate: 100 }, errs);
  assert.ok(strict.bestRate! <= 900 && strict.bestRate! >= 855, `best ${strict.bestRate}`);
  const loose = await search({ sloP99Ms: 1000, startRate: 100, maxErrorRate: 0.01, maxRate: 5000 }, errs);
  assert.equal(loose.bestRate, 5000);
});

test('a target that answers under 90 % of the offered rate fails the step, whatever its p99', async () => {
  const out = await search({ sloP99Ms: 1000, startRate: 100 }, { p99: () => 10, achieved: (r) => Math.min(r, 2000) });
  assert.ok(out.bestRate! >= 2100 && out.bestRate! <= 2222, `best ${out.bestRate}`);
  assert.deepEqual(verdict(result(3000, { p99: () => 10, achieved: () => 2000 }), 1000, 0.001), {
    pass: false,
    why: 'answered 2000/s of 3000/s offered',
  });
});

test('maxRate is respected: never offered above, and the search says the knee is beyond it', async () => {
  const out = await search({ sloP99Ms: 1000, startRate: 300, maxRate: 1000 }, knee(50_000));
  assert.deepEqual(out.rates, [300, 600, 1000]);
  assert.equal(out.bestRate, 1000);
  assert.match(out.reason, /reached maxRate 1000\/s with the SLO still met/);
  const low = await search({ sloP99Ms: 1000, startRate: 5000, maxRate: 1000 }, knee(50_000));
  assert.deepEqual(low.rates, [1000], 'a start above maxRate starts at maxRate');
});

test('a passing step where the generator fell behind ends the search and says the generator is the limit', async () => {
  const out = await search({ sloP99Ms: 1000, startRate: 100 }, { ...knee(100_000), generatorLimited: (r) => r >= 1500 });
  assert.deepEqual(out.rates, [100, 200, 400, 800, 1600]);
  assert.equal(out.bestRate, 1600);
  assert.match(out.reason, /load generator could not keep its schedule/);
});

test('a failing step where the generator fell behind still bisects, and the reason warns the knee may be its own', async () => {
  const out = await search({ sloP99Ms: 1000, startRate: 100 }, { ...knee(1000), generatorLimited: (r) => r > 1000 });
  assert.ok(out.bestRate! >= 950 && out.bestRate! <= 1000);
  assert.match(out.reason, /generator was limited at the failing rate/);
});

test('when even the lowest rates fail the search goes down to 1/s and stops with no best', async () => {
  const out = await search({ sloP99Ms: 1000, startRate: 100 }, { p99: () => 5000 });
  assert.equal(out.best, undefined);
  assert.match(out.reason, /^even [\d.]+\/s fails the SLO$/);
  assert.ok(out.rates[out.rates.length - 1] <= 1, `went down to ${out.rates.at(-1)}/s`);
  assert.ok(out.rates.length <= 10 && out.rates.every((r, i) => i === 0 || r < out.rates[i - 1]), out.rates.join(', '));
});

test('the step bound holds whatever the target does', async () => {
  const out = await search({ sloP99Ms: 1000, startRate: 1, maxSteps: 4 }, knee(1e6));
  assert.equal(out.rates.length, 4);
  assert.match(out.reason, /step bound \(4\) reached; highest passing 8\/s/);
});
