import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { applyOverride, hashString, LOAD_REPORT_EVERY_MS, loadFromOrca } from '../../../balancer/routing/endpoint-state';
import { Status } from '../../../protocol/status';
import { cluster, endpoint, outlierConfig, policy } from '../../helpers/balancer-fixture';

describe('EndpointState', () => {
  it('one completion updates in-flight, the estimate, the load report and the detector together', () => {
    const t = cluster([endpoint('e0')], policy({ outlier_detection: outlierConfig({ consecutive_failures: 2 }) }));
    const s = t.states[0];
    const seq: unknown[] = [];
    const snap = () => seq.push([s.inFlight, Math.round(s.ewma.peek()), s.reported?.queueDepth ?? null, s.outlier.ejected]);
    assert.ok(s.tryStart());
    assert.ok(s.tryStart());
    snap();
    t.clock.advance(80);
    s.onCallEnded(true, Status.OK, 80, { queueDepth: 4, inFlight: 9, latencyMs: 70 });
    snap();
    s.onCallEnded(false, Status.UNAVAILABLE, 1, undefined);
    snap();
    s.tryStart();
    s.onCallEnded(false, Status.UNAVAILABLE, 500);
    snap();
    // [in-flight, estimate, reported queue, ejected]
    assert.deepEqual(seq, [
      [2, 30, null, false],
      [1, 80, 4, false],
      [0, 80, 4, false],
      [0, 500, 4, true],
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
      assert.deepEqual([s.inFlight, s.ewma.peek(), s.outlier.ejected], [0, 30, ejected], statuses.map((c) => Status[c]).join(', '));
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

  it('a fast failure never lowers the estimate; a fast success does', () => {
    const t = cluster([endpoint('e0')]);
    const s = t.states[0];
    s.ewma.observe(100, 0);
    t.clock.advance(10_000);
    s.tryStart();
    s.onCallEnded(false, Status.INTERNAL, 1);
    assert.equal(s.ewma.peek(), 100);
    s.tryStart();
    s.onCallEnded(true, Status.OK, 1);
    assert.ok(s.ewma.peek() < 40, `estimate ${s.ewma.peek()}`);
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
    t.states[0].tryStart();
    t.states[0].onCallEnded(false, Status.UNAVAILABLE, 1);
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
