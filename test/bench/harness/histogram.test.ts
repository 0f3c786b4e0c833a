import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import {
  addEncoded,
  CURVE_PERCENTILES,
  decodeHistogram,
  encodeHistogram,
  latencyMs,
  MAX_LATENCY_US,
  newHistogram,
  percentileCurve,
  recordMs,
} from '../../../bench/harness/histogram';

/** A seeded LCG in [0, 1), so the sample sets are the same every run. */
function rng(seed: number): () => number {
  let s = seed >>> 0;
  return () => (s = (s * 1664525 + 1013904223) >>> 0) / 2 ** 32;
}

/** Latency sample sets (ms) shaped like what the harness sees. */
const SETS: Array<[string, (r: () => number) => number, number]> = [
  ['uniform 0.1-5 ms', (r) => 0.1 + 4.9 * r(), 20_000],
  ['log-normal-ish around 1 ms', (r) => Math.exp(Math.log(1) + 0.8 * (r() + r() + r() - 1.5)), 30_000],
  ['bimodal with a 500 ms stall tail', (r) => (r() < 0.02 ? 250 + 250 * r() : 0.2 + 0.5 * r()), 25_000],
  ['sub-ms only', (r) => 0.001 + 0.2 * r(), 10_000],
];
const PERCENTILES = [1, 25, 50, 90, 99, 99.9, 99.99, 100];

describe('harness histograms', () => {
  for (const [name, gen, n] of SETS) {
    for (const workers of [2, 3, 7]) {
      it(`${name}: ${workers} worker histograms merged (encoded, decoded, added) equal one histogram of every sample`, () => {
        const r = rng(n + workers);
        const single = newHistogram();
        const parts = Array.from({ length: workers }, () => newHistogram());
        for (let i = 0; i < n; i++) {
          const ms = gen(r);
          recordMs(single, ms);
          recordMs(parts[(i * 7919) % workers], ms); // uneven split, as workers see
        }
        const merged = newHistogram();
        for (const p of parts) addEncoded(merged, encodeHistogram(p));
        assert.equal(merged.totalCount, n);
        assert.deepEqual(
          PERCENTILES.map((p) => merged.getValueAtPercentile(p)),
          PERCENTILES.map((p) => single.getValueAtPercentile(p)),
        );
        assert.deepEqual(latencyMs(merged), latencyMs(single));
        assert.deepEqual(percentileCurve(merged), percentileCurve(single));
      });
    }
  }

  it('an encoding decodes to the same counts', () => {
    const h = newHistogram();
    for (let i = 1; i <= 1000; i++) recordMs(h, i / 10);
    const back = decodeHistogram(encodeHistogram(h));
    assert.equal(back.totalCount, 1000);
    assert.deepEqual(
      [50, 99, 100].map((p) => back.getValueAtPercentile(p)),
      [50, 99, 100].map((p) => h.getValueAtPercentile(p)),
    );
  });

  it('values are whole µs, at least 1, clamped to the top instead of throwing', () => {
    const h = newHistogram();
    recordMs(h, 0);
    recordMs(h, -3);
    recordMs(h, 1e9);
    assert.equal(h.totalCount, 3);
    assert.equal(h.getValueAtPercentile(50), 1);
    assert.ok(h.maxValue >= MAX_LATENCY_US * 0.999);
  });

  it('an empty histogram reports zeros and no curve', () => {
    const h = newHistogram();
    assert.deepEqual(latencyMs(h), { p50: 0, p90: 0, p99: 0, p999: 0, max: 0, mean: 0 });
    assert.deepEqual(percentileCurve(h), []);
  });

  it('the curve runs through every curve percentile, rising, ending at the max', () => {
    const h = newHistogram();
    for (let i = 1; i <= 10_000; i++) recordMs(h, i / 100);
    const c = percentileCurve(h);
    assert.deepEqual(
      c.map(([p]) => p),
      [...CURVE_PERCENTILES],
    );
    for (let i = 1; i < c.length; i++) assert.ok(c[i][1] >= c[i - 1][1]);
    assert.equal(c[c.length - 1][1], latencyMs(h).max);
    assert.ok(Math.abs(latencyMs(h).max - 100) <= 0.1, 'the max, to HDR precision (3 digits)');
  });
});
