// A discrete-event model of one model cluster behind the balancer's real
// routing pieces (candidate snapshot → picker → in-flight slot → onCallEnded),
// on a fake clock with seeded randomness: open-loop Poisson arrivals or a
// closed loop, endpoints whose latency and failures are functions of time,
// endpoints that join mid-run. The choice-rule tests assert shares,
// convergence and starvation on it; the real-process figures are in
// bench:skew-matrix.
import { seededRandom, type Random } from '../../common/clock';
import type { ClusterEndpoint } from '../../discovery/types';
import { ClusterSnapshot } from '../../balancer/routing/candidates';
import { EndpointState } from '../../balancer/routing/endpoint-state';
import { estimatorsFor } from '../../balancer/routing/load/estimators';
import { metricFor } from '../../balancer/routing/load/load-metric';
import { OutlierDetector } from '../../balancer/routing/outlier-detector';
import { PickerCache } from '../../balancer/routing/pick';
import { Status } from '../../protocol/status';
import { DEFAULT_POLICY } from '../../routing-config/policy';
import type { RoutingPolicy } from '../../routing-config/types';
import { endpoint } from './balancer-fixture';
import { FakeClock } from './fake-clock';

/** One simulated endpoint. */
export interface SimEndpoint {
  readonly id: string;
  /** Latency (ms) of a call that starts at t (ms from the run's start). */
  readonly latencyMs: (t: number, random: Random) => number;
  /** Whether a call starting at t fails (UNAVAILABLE, after its latency); default never. */
  readonly fails?: (t: number, random: Random) => boolean;
  /** Joins the cluster at this time (ms); default from the start. */
  readonly joinAt?: number;
}

/** What the run sends: Poisson arrivals at `rate` per second, or `concurrency` calls kept in flight. */
export type SimLoad = { readonly rate: number } | { readonly concurrency: number };

/** One call as the client saw it. */
export interface SimCall {
  /** Start, ms from the run's start. */
  readonly at: number;
  readonly id: string;
  readonly ms: number;
  readonly ok: boolean;
}

/** A fast endpoint: median ~3.3 ms, ±30 %, 1 % of calls 4x (a GC pause, a big batch). */
export function fast(id: string, extra: (t: number) => number = () => 0): SimEndpoint {
  return { id, latencyMs: (t, r) => 3.3 * (0.7 + 0.6 * r()) * (r() < 0.01 ? 4 : 1) + extra(t) };
}

/** Runs `load` for durationMs against the endpoints under a policy (default: the built-in one). */
export function simulate(
  eps: readonly SimEndpoint[],
  load: SimLoad,
  durationMs: number,
  seed = 1,
  p: RoutingPolicy = DEFAULT_POLICY,
): SimCall[] {
  const clock = new FakeClock(0);
  const random = seededRandom(seed);
  const service = seededRandom(seed + 1);
  const detector = new OutlierDetector<EndpointState>(p.outlier_detection, clock);
  const estimator = estimatorsFor(p.p2c);
  const cache = new PickerCache(p.picker, { clock, random, metric: metricFor(p.p2c), choiceCount: p.p2c.choice_count });
  const states = new Map<EndpointState, SimEndpoint>();
  let snapshot = ClusterSnapshot.build('m', [], '', p.outlier_detection.panic_threshold_percent);
  const join = (e: SimEndpoint) => {
    const raw: ClusterEndpoint = endpoint(e.id);
    states.set(new EndpointState(raw, { clock, estimator, breaker: p.circuit_breaker, detector }), e);
    snapshot = ClusterSnapshot.build('m', [...states.keys()], '', p.outlier_detection.panic_threshold_percent);
  };
  for (const e of eps) {
    if (!e.joinAt) join(e);
    else clock.setTimeout(() => join(e), e.joinAt);
  }
  const calls: SimCall[] = [];
  const send = (onEnd?: () => void) => {
    const now = clock.now();
    const c = snapshot.select({}, p, now);
    if (c.kind !== 'ok') throw new Error(`no candidates at ${now}`);
    const r = cache.get(c.endpoints, c.stable).pick();
    if (r.kind !== 'pick' || !r.endpoint.tryStart(now)) throw new Error(`no pick at ${now}`);
    const s = r.endpoint;
    const e = states.get(s)!;
    const ms = e.latencyMs(now, service);
    const ok = !e.fails?.(now, service);
    calls.push({ at: now, id: e.id, ms, ok });
    clock.setTimeout(() => {
      s.onCallEnded(ok ? Status.OK : Status.UNAVAILABLE, now);
      onEnd?.();
    }, ms);
  };
  if ('rate' in load) {
    const arrivals = seededRandom(seed + 2);
    const next = () => {
      send();
      clock.setTimeout(next, -Math.log(1 - arrivals()) * (1000 / load.rate));
    };
    next();
  } else {
    const loop = () => send(loop);
    for (let i = 0; i < load.concurrency; i++) loop();
  }
  // Steps of 1 ms keep the fake clock's timer scans short.
  while (clock.now() < durationMs) clock.advance(1);
  return calls.filter((c) => c.at < durationMs);
}

/** Share of the calls started in [from, to) that went to id. */
export function share(calls: readonly SimCall[], id: string, from = 0, to = Infinity): number {
  const within = calls.filter((c) => c.at >= from && c.at < to);
  return within.length ? within.filter((c) => c.id === id).length / within.length : 0;
}

/** The q-quantile latency of the calls started in [from, to). */
export function quantile(calls: readonly SimCall[], q: number, from = 0, to = Infinity): number {
  const ms = calls
    .filter((c) => c.at >= from && c.at < to)
    .map((c) => c.ms)
    .sort((a, b) => a - b);
  return ms[Math.min(ms.length - 1, Math.floor(q * ms.length))];
}

/**
 * The earliest time t >= from after which every windowMs window (stepping 250 ms) up to `to`
 * keeps id's share under `under`; `to` when none does.
 */
export function convergedAt(calls: readonly SimCall[], id: string, under: number, from: number, to: number, windowMs = 1000): number {
  let t = to;
  for (let w = to - windowMs; w >= from; w -= 250) {
    if (share(calls, id, w, w + windowMs) >= under) break;
    t = w;
  }
  return t;
}
