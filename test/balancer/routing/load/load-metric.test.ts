import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { ComposedMetric, metricFor, pendingMetric } from '../../../../balancer/routing/load/load-metric';
import type { P2cConfig } from '../../../../routing-config/types';
import { DEFAULT_POLICY } from '../../../../routing-config/policy';
import { cluster, endpoint } from '../../../helpers/balancer-fixture';

const base: P2cConfig = DEFAULT_POLICY.p2c;
const ewmaOff: P2cConfig = { ...base, peak_ewma: { ...base.peak_ewma, enabled: false } };

interface Case {
  name: string;
  config: P2cConfig;
  /** Local in-flight calls. */
  inFlight: number;
  /** Reported queue depth and the report's age at cost time (ms); omitted: no report. */
  report?: { queueDepth: number; ageMs: number };
  /** A latency sample observed at cost time (peak EWMA); omitted: initial estimate. */
  rttMs?: number;
  want: number;
}

const cases: Case[] = [
  { name: 'idle, EWMA at its initial 30 ms', config: base, inFlight: 0, want: 30 },
  { name: 'rtt × (pending + 1)', config: base, inFlight: 3, rttMs: 50, want: 50 * 4 },
  { name: 'fresh queue depth adds to pending', config: base, inFlight: 3, report: { queueDepth: 6, ageMs: 100 }, rttMs: 50, want: 50 * 10 },
  {
    name: 'report exactly at max age still counts (the estimate decayed meanwhile)',
    config: base,
    inFlight: 0,
    report: { queueDepth: 4, ageMs: 2000 },
    want: 30 * Math.exp(-0.2) * 5,
  },
  { name: 'stale queue depth is ignored', config: base, inFlight: 3, report: { queueDepth: 6, ageMs: 2001 }, rttMs: 50, want: 50 * 4 },
  { name: 'EWMA off: pending + 1 alone', config: ewmaOff, inFlight: 3, report: { queueDepth: 6, ageMs: 0 }, rttMs: 500, want: 10 },
  {
    name: 'weights scale each term',
    config: { ...ewmaOff, in_flight_weight: 2, queue_depth_weight: 0.5 },
    inFlight: 3,
    report: { queueDepth: 6, ageMs: 0 },
    want: 2 * 3 + 0.5 * 6 + 1,
  },
  {
    name: 'queue weight 0 ignores reports',
    config: { ...ewmaOff, queue_depth_weight: 0 },
    inFlight: 1,
    report: { queueDepth: 100, ageMs: 0 },
    want: 2,
  },
];

describe('ComposedMetric', () => {
  for (const c of cases) {
    it(c.name, () => {
      const t = cluster([endpoint('e0')]);
      const s = t.states[0];
      for (let i = 0; i < c.inFlight; i++) assert.ok(s.tryStart());
      if (c.report) {
        s.onLoadReport({ queueDepth: c.report.queueDepth, inFlight: 0, latencyMs: 0 });
        t.clock.advance(c.report.ageMs);
      }
      if (c.rttMs !== undefined) s.ewma.observe(c.rttMs, t.clock.now());
      const got = new ComposedMetric(c.config).cost(s, t.clock.now());
      assert.ok(Math.abs(got - c.want) < 1e-9, `got ${got}, want ${c.want}`);
    });
  }

  it('metricFor builds the composed metric of a p2c section', () => {
    const t = cluster([endpoint('e0')]);
    assert.equal(metricFor(ewmaOff).cost(t.states[0], 0), 1);
  });
});

describe('pendingMetric', () => {
  it('is local in-flight only, whatever was reported or measured', () => {
    const t = cluster([endpoint('e0')]);
    const s = t.states[0];
    s.tryStart();
    s.tryStart();
    s.onLoadReport({ queueDepth: 50, inFlight: 80, latencyMs: 900 });
    s.ewma.observe(900, 0);
    assert.equal(pendingMetric.cost(s, 0), 2);
  });
});
