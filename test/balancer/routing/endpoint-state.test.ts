import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { applyOverride, hashString, LOAD_REPORT_EVERY_MS, loadFromOrca } from '../../../balancer/routing/endpoint-state';
import { Status } from '../../../protocol/status';
import { DEFAULT_POLICY } from '../../../routing-config/policy';
import { cluster, endpoint, outlierConfig, policy } from '../../helpers/balancer-fixture';

describe('EndpointState', () => {
  it('one completion updates in-flight, the estimate, the load report and the detector together', () => {
    const t = cluster([endpoint('e0')], policy({ outlier_detection: outlierConfig({ consecutive_failures: 2 }) }));
    const s = t.states[0];
    const seq: unknown[] = [];
    const now = () => t.clock.now();
    const snap = () =>
      seq.push([
        s.inFlight,
        Math.round(s.inFlightAge(now())),
        Math.round(s.latency.peek()),
        s.reported?.queueDepth ?? null,
        s.outlier.ejected,
      ]);
    assert.ok(s.tryStart(0));
    t.clock.advance(20);
    assert.ok(s.tryStart(20));
    snap();
    t.clock.advance(60);
    s.onCallEnded(Status.OK, 0, { queueDepth: 4, inFlight: 9, latencyMs: 70 });
    snap();
    // A failure counts as failure_factor (4) × the estimate at least, weighing rise_weight 0.5.
    s.onCallEnded(Status.UNAVAILABLE, 20, undefined);
    snap();
    s.tryStart(now());
    t.clock.advance(500);
    s.onCallEnded(Status.UNAVAILABLE, now() - 500);
    snap();
    // [in-flight, mean in-flight age, estimate, reported queue, ejected]
    assert.deepEqual(seq, [
      [2, 10, 30, null, false],
      [1, 60, 80, 4, false],
      [0, 0, 200, 4, false],
      // 500 ms after the last sample, the new one weighs 1 - exp(-500/250): 200 + 0.865 × (4 × 200 - 200).
      [0, 0, 719, 4, true],
    ]);
  });

  it('a per_stream stream frees its slot and leaves the estimate alone; deadlines and cancels never eject', () => {
    // [statuses of successive streams, ejected after them]
    const table: Array<[Status[], boolean]> = [
      [[Status.DEADLINE_EXCEEDED, Status.DEADLINE_EXCEEDED, Status.CANCELLED, Status.DEADLINE_EXCEEDED], false],
      [[Status.UNAVAILABLE, Status.UNAVAILABLE], true],
      [[Status.UNAVAILABLE, Status.OK, Status.UNAVAILABLE], false],
    ];
    for (const [statuses, ejected] of table) {
      const t = cluster(
        [endpoint('e0'), endpoint('e1'), endpoint('e2')],
        policy({ outlier_detection: outlierConfig({ consecutive_failures: 2, max_ejection_percent: 100 }) }),
      );
      const s = t.states[0];
      for (const code of statuses) {
        assert.ok(s.tryStart());
        t.clock.advance(10); // within any ejection: an ejection here must still show at the end
        s.onStreamEnded(code, undefined);
      }
      assert.deepEqual(
        [s.inFlight, s.inFlightAge(t.clock.now()), s.latency.peek(), s.outlier.ejected],
        [0, 0, 30, ejected],
        statuses.map((c) => Status[c]).join(', '),
      );
    }
  });

  it('asks for a load-report call at most once per LOAD_REPORT_EVERY_MS', () => {
    const t = cluster([endpoint('e0')]);
    const s = t.states[0];
    const start = t.clock.now();
    // [ms after start, expected answer]
    const table: Array<[number, boolean]> = [
      [0, true],
      [0, false],
      [LOAD_REPORT_EVERY_MS - 1, false],
      [LOAD_REPORT_EVERY_MS, true],
      [LOAD_REPORT_EVERY_MS + 1, false],
      [5 * LOAD_REPORT_EVERY_MS, true],
    ];
    for (const [at, want] of table) assert.equal(s.wantsLoadReport(start + at), want, `at +${at} ms`);
  });

  it('a fast failure raises the estimate, a caller error leaves it, a fast success lowers it', () => {
    // No relaxation toward the cluster's figure between samples: the weights alone.
    const p2c = { ...DEFAULT_POLICY.p2c, latency: { ...DEFAULT_POLICY.p2c.latency, relax_ms: 1e12 } };
    const t = cluster([endpoint('e0')], policy({ p2c }));
    const s = t.states[0];
    // [status, latency ms, estimate after] — the first sample replaces the 30 ms seed.
    const table: Array<[Status, number, number]> = [
      [Status.OK, 100, 100],
      [Status.INTERNAL, 1, 250], // max(1, 4 × 100) weighs rise_weight 0.5
      [Status.INVALID_ARGUMENT, 1, 250],
      [Status.DEADLINE_EXCEEDED, 1, 250],
      [Status.OK, 50, 210], // fall_weight 0.2
    ];
    for (const [code, ms, want] of table) {
      s.tryStart(t.clock.now());
      t.clock.advance(ms);
      s.onCallEnded(code, t.clock.now() - ms);
      assert.ok(Math.abs(s.latency.peek() - want) < 1e-9, `${Status[code]} ${ms} ms: estimate ${s.latency.peek()}, want ${want}`);
    }
  });

  it('the mean in-flight age counts calls, not pinned streams, and returns to 0', () => {
    const t = cluster([endpoint('e0')]);
    const s = t.states[0];
    s.tryStart(); // a pinned stream
    s.tryStart(0);
    t.clock.advance(30);
    s.tryStart(30);
    t.clock.advance(10);
    assert.equal(s.inFlightAge(40), 25);
    s.onCallEnded(Status.OK, 0);
    assert.equal(s.inFlightAge(40), 10);
    s.onCallEnded(Status.OK, 30);
    assert.deepEqual([s.inFlightAge(40), s.inFlight], [0, 1]);
    s.onStreamEnded(Status.OK);
    assert.equal(s.inFlight, 0);
  });

  it('tryStart refuses at the breaker cap; the refusal is counted', () => {
    const t = cluster([endpoint('e0')], policy({ circuit_breaker: { max_in_flight: 1 } }));
    const s = t.states[0];
    assert.deepEqual([s.tryStart(), s.tryStart(), s.inFlight, s.breaker.rejected], [true, false, 1, 1]);
  });

  it('queue depth and in-flight reports expire after max age', () => {
    const t = cluster([endpoint('e0')]);
    const s = t.states[0];
    s.tryStart();
    assert.deepEqual([s.queueDepth(0, 100), s.loadInFlight(0, 100)], [0, 1], 'no report: queue 0, own in-flight');
    s.onLoadReport({ queueDepth: 7, inFlight: 12, latencyMs: 3 });
    t.clock.advance(100);
    assert.deepEqual([s.queueDepth(t.clock.now(), 100), s.loadInFlight(t.clock.now(), 100)], [7, 12]);
    t.clock.advance(1);
    assert.deepEqual([s.queueDepth(t.clock.now(), 100), s.loadInFlight(t.clock.now(), 100)], [0, 1]);
  });

  it('an UPDATE with moved heartbeat load counts as a report; unchanged load does not refresh it', () => {
    const t = cluster([endpoint('e0')]);
    const s = t.states[0];
    // A function, so TypeScript does not keep the narrowing of one read for the next.
    const reported = () => s.reported;
    t.clock.advance(50);
    s.update(endpoint('e0', { health: 'DRAINING' }));
    assert.equal(reported(), undefined);
    assert.equal(s.endpoint.health, 'DRAINING');
    s.update(endpoint('e0', { load: { queueDepth: 3, inFlight: 5, latencyMs: 9 } }));
    assert.deepEqual(reported(), { queueDepth: 3, inFlight: 5, latencyMs: 9, at: 50 });
    t.clock.advance(50);
    s.update(endpoint('e0', { load: { queueDepth: 3, inFlight: 5, latencyMs: 9 }, weight: 2 }));
    assert.equal(reported()?.at, 50);
  });

  it('close() leaves the detector', () => {
    const t = cluster([endpoint('e0'), endpoint('e1')], policy({ outlier_detection: outlierConfig({ consecutive_failures: 1 }) }));
    t.states[0].close();
    t.states[0].tryStart(0);
    t.states[0].onCallEnded(Status.UNAVAILABLE, 0);
    assert.equal(t.states[0].outlier.ejected, false);
    assert.equal(t.detector.ejectedCount, 0);
  });
});

describe('endpoint-state helpers', () => {
  it('loadFromOrca reads our named metrics', () => {
    const base = {
      cpu_utilization: 0,
      mem_utilization: 0,
      rps: 0,
      request_cost: {},
      utilization: {},
      rps_fractional: 0,
      eps: 0,
      application_utilization: 0,
    };
    const table: [Record<string, number>, unknown][] = [
      [
        { queue_depth: 3, in_flight: 5, latency_ewma_ms: 7.5 },
        { queueDepth: 3, inFlight: 5, latencyMs: 7.5 },
      ],
      [{ in_flight: 2 }, { queueDepth: 0, inFlight: 2, latencyMs: 0 }],
      [{ other: 1 }, undefined],
      [{}, undefined],
    ];
    for (const [named, want] of table) assert.deepEqual(loadFromOrca({ ...base, named_metrics: named }), want, JSON.stringify(named));
  });

  it('applyOverride: drain and weight', () => {
    const e = endpoint('e0', { weight: 3 });
    assert.equal(applyOverride(e, undefined), e);
    assert.equal(applyOverride(e, { drain: false }), e);
    assert.deepEqual([applyOverride(e, { drain: true }).health, applyOverride(e, { drain: true }).weight], ['DRAINING', 3]);
    assert.deepEqual(
      [applyOverride(e, { drain: false, weight: 0.5 }).health, applyOverride(e, { drain: false, weight: 0.5 }).weight],
      ['HEALTHY', 0.5],
    );
  });

  it('hashString is stable and spreads neighbouring ids', () => {
    assert.equal(hashString('10.0.0.1:8001'), hashString('10.0.0.1:8001'));
    const hs = new Set(Array.from({ length: 1000 }, (_, i) => hashString(`e${i}`) >>> 22));
    assert.ok(hs.size > 600, `top 10 bits of 1000 ids: ${hs.size} distinct buckets of 1024`);
  });
});
