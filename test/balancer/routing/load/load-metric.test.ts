import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { ComposedMetric, metricFor, pendingMetric } from '../../../../balancer/routing/load/load-metric';
import type { P2cConfig } from '../../../../routing-config/types';
import { DEFAULT_POLICY } from '../../../../routing-config/policy';
import { cluster, endpoint } from '../../../helpers/balancer-fixture';

const base: P2cConfig = DEFAULT_POLICY.p2c;
const none: P2cConfig = { ...base, estimator: 'none' };
const peak: P2cConfig = { ...base, estimator: 'peak_ewma' };

interface Case {
  name: string;
  config: P2cConfig;
  /** Local in-flight pinned streams (no age). */
  inFlight: number;
  /** One call in flight that started this long before cost time (ms). */
  callAgeMs?: number;
  /** Reported queue depth and the report's age at cost time (ms); omitted: no report. */
  report?: { queueDepth: number; ageMs: number };
  /** A latency sample observed at cost time; omitted: the seed. */
  rttMs?: number;
  want: number;
}

// Defaults: in_flight_weight and queue_depth_weight 0.1, seed 30 ms.
const cases: Case[] = [
  { name: 'idle, estimate at its 30 ms seed', config: base, inFlight: 0, want: 30 },
  { name: 'latency × (1 + w × pending)', config: base, inFlight: 3, rttMs: 50, want: 50 * 1.3 },
  {
    name: 'fresh queue depth adds to pending',
    config: base,
    inFlight: 3,
    report: { queueDepth: 6, ageMs: 100 },
    rttMs: 50,
    want: 50 * 1.9,
  },
  { name: 'report exactly at max age still counts', config: base, inFlight: 0, report: { queueDepth: 4, ageMs: 2000 }, want: 30 * 1.4 },
  { name: 'stale queue depth is ignored', config: base, inFlight: 3, report: { queueDepth: 6, ageMs: 2001 }, rttMs: 50, want: 50 * 1.3 },
  {
    name: 'a call in flight longer than the estimate sets the latency',
    config: base,
    inFlight: 0,
    callAgeMs: 200,
    rttMs: 50,
    want: 200 * 1.1,
  },
  { name: 'a young call in flight leaves the estimate', config: base, inFlight: 0, callAgeMs: 10, rttMs: 50, want: 50 * 1.1 },
  { name: 'peak EWMA as the estimator', config: peak, inFlight: 1, rttMs: 50, want: 50 * 1.1 },
  { name: 'estimator none: 1 + w × pending alone', config: none, inFlight: 3, report: { queueDepth: 6, ageMs: 0 }, rttMs: 500, want: 1.9 },
  {
    name: 'weights scale each term',
    config: { ...none, in_flight_weight: 2, queue_depth_weight: 0.5 },
    inFlight: 3,
    report: { queueDepth: 6, ageMs: 0 },
    want: 2 * 3 + 0.5 * 6 + 1,
  },
  {
    name: 'queue weight 0 ignores reports',
    config: { ...none, queue_depth_weight: 0 },
    inFlight: 1,
    report: { queueDepth: 100, ageMs: 0 },
    want: 1.1,
  },
];

describe('ComposedMetric', () => {
  for (const c of cases) {
    it(c.name, () => {
      const t = cluster([endpoint('e0')], { ...DEFAULT_POLICY, p2c: c.config });
      const s = t.states[0];
      for (let i = 0; i < c.inFlight; i++) assert.ok(s.tryStart());
      if (c.callAgeMs !== undefined) {
        assert.ok(s.tryStart(t.clock.now()));
        t.clock.advance(c.callAgeMs);
      }
      if (c.report) {
        s.onLoadReport({ queueDepth: c.report.queueDepth, inFlight: 0, latencyMs: 0 });
        t.clock.advance(c.report.ageMs);
      }
      if (c.rttMs !== undefined) s.latency.observe(c.rttMs, 'ok', t.clock.now());
      const got = new ComposedMetric(c.config).cost(s, t.clock.now());
      assert.ok(Math.abs(got - c.want) < 1e-9, `got ${got}, want ${c.want}`);
    });
  }

  it('metricFor builds the composed metric of a p2c section', () => {
    const t = cluster([endpoint('e0')]);
    assert.equal(metricFor(none).cost(t.states[0], 0), 1);
  });
});

describe('pendingMetric', () => {
  it('is local in-flight only, whatever was reported or measured', () => {
    const t = cluster([endpoint('e0')]);
    const s = t.states[0];
    s.tryStart();
    s.tryStart();
    s.onLoadReport({ queueDepth: 50, inFlight: 80, latencyMs: 900 });
    s.latency.observe(900, 'ok', 0);
    assert.equal(pendingMetric.cost(s, 0), 2);
  });
});
