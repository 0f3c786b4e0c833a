// A small simulation of the data path's decisions on a fake clock: 11
// endpoints, one 10x slower (Linkerd's experiment), a steady 1000 calls/s,
// each call taking its endpoint's latency ±20 %. Every call goes through the
// pieces in the order the gRPC path will use them: version → candidates →
// picker → breaker slot → (call) → onCallEnded. Deterministic (seeded) and
// fast: 20K calls per strategy.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { ClusterSnapshot } from '../../../balancer/routing/candidates';
import { metricFor, pendingMetric } from '../../../balancer/routing/load/load-metric';
import { PickerCache } from '../../../balancer/routing/pick';
import { VersionSplitter } from '../../../balancer/routing/version-split';
import { Status } from '../../../protocol/status';
import { cluster, endpoints, policy, rng } from '../../helpers/balancer-fixture';

const CALLS = 20_000;
const FAST_MS = 10;
const SLOW_MS = 100;
const SLOW = 'e10';

interface SimResult {
  /** Share of calls the slow endpoint received. */
  slowShare: number;
  p50: number;
  p99: number;
}

function simulate(picker: string, seed: number): SimResult {
  const pol = policy({ picker, zone_affinity: { enabled: false, spillover_in_flight: 32 } });
  const t = cluster(endpoints(11));
  const snapshot = ClusterSnapshot.build('ranker', t.states, '', pol.outlier_detection.panic_threshold_percent);
  const pickers = new PickerCache(pol.picker, {
    clock: t.clock,
    random: rng(seed),
    metric: metricFor(pol.p2c),
    choiceCount: pol.p2c.choice_count,
  });
  const split = new VersionSplitter({}, rng(seed + 1));
  const jitter = rng(seed + 2);
  const latencies: number[] = [];
  let slow = 0;
  for (let i = 0; i < CALLS; i++) {
    t.clock.advance(1);
    const c = snapshot.select({ version: split.choose() }, pol, t.clock.now());
    assert.equal(c.kind, 'ok');
    if (c.kind !== 'ok') return { slowShare: NaN, p50: NaN, p99: NaN };
    const r = pickers.get(c.endpoints, c.stable).pick();
    if (r.kind !== 'pick') throw new Error(r.reason);
    const s = r.endpoint;
    const start = t.clock.now();
    assert.ok(s.tryStart(start));
    if (s.endpoint.id === SLOW) slow++;
    const ms = (s.endpoint.id === SLOW ? SLOW_MS : FAST_MS) * (0.8 + 0.4 * jitter());
    latencies.push(ms);
    t.clock.setTimeout(() => s.onCallEnded(Status.OK, start), ms);
  }
  t.clock.advance(10 * SLOW_MS);
  assert.deepEqual(
    t.states.map((s) => s.inFlight),
    Array(11).fill(0),
    'every call ended',
  );
  latencies.sort((a, b) => a - b);
  return { slowShare: slow / CALLS, p50: latencies[Math.floor(CALLS * 0.5)], p99: latencies[Math.floor(CALLS * 0.99)] };
}

describe('simulation: one endpoint 10x slower among 11', () => {
  const results = new Map<string, SimResult>();
  const get = (name: string) => {
    let r = results.get(name);
    if (!r) results.set(name, (r = simulate(name, 5)));
    return r;
  };

  it("round robin sends it its 1/11 share, and p99 is the slow endpoint's latency", () => {
    const rr = get('round_robin');
    assert.ok(Math.abs(rr.slowShare - 1 / 11) < 0.001, `slow share ${rr.slowShare}`);
    assert.ok(rr.p99 > 0.8 * SLOW_MS, `p99 ${rr.p99}`);
  });

  it("p2c with peak EWMA sends it less than a third of round robin's share, and p99 stays fast", () => {
    const rr = get('round_robin');
    const p2c = get('p2c');
    assert.ok(p2c.slowShare < rr.slowShare / 3, `p2c slow share ${p2c.slowShare}, round robin ${rr.slowShare}`);
    assert.ok(p2c.p99 < 1.5 * FAST_MS, `p2c p99 ${p2c.p99} ms`);
  });

  it('least request (pending only) lands in between and still hurts p99 (Linkerd: least-loaded from ~p99)', () => {
    const rr = get('round_robin');
    const lr = get('least_request');
    const p2c = get('p2c');
    assert.ok(
      lr.slowShare < rr.slowShare && lr.slowShare > p2c.slowShare,
      `least_request ${lr.slowShare}, p2c ${p2c.slowShare}, rr ${rr.slowShare}`,
    );
    assert.ok(lr.p99 > 0.5 * SLOW_MS, `least_request p99 ${lr.p99}`);
  });

  it('is deterministic', (t) => {
    assert.deepEqual(simulate('p2c', 5), get('p2c'));
    t.diagnostic(JSON.stringify(Object.fromEntries(results)));
  });

  it('pendingMetric alone is load-blind to latency: an idle slow endpoint ties with idle fast ones', () => {
    const t = cluster(endpoints(2));
    t.states[1].latency.observe(SLOW_MS, 'ok', 0);
    assert.equal(pendingMetric.cost(t.states[0], 0), pendingMetric.cost(t.states[1], 0));
  });
});
