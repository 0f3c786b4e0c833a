// Shared pieces for the balancer's unit tests: endpoints as discovery sends
// them, per-endpoint state on a fake clock, picker contexts with a seeded
// random source, and pick counting.
import { seededRandom, type Random } from '../../common/clock';
import { DEFAULT_POLICY } from '../../routing-config/policy';
import type { OutlierDetectionConfig, RoutingPolicy } from '../../routing-config/types';
import type { ClusterEndpoint } from '../../discovery/types';
import { EndpointState } from '../../balancer/routing/endpoint-state';
import { estimatorsFor } from '../../balancer/routing/load/estimators';
import { metricFor, type LoadMetric } from '../../balancer/routing/load/load-metric';
import { OutlierDetector } from '../../balancer/routing/outlier-detector';
import type { Picker, PickerContext } from '../../balancer/routing/pick';
import { FakeClock } from './fake-clock';

/** A healthy endpoint serving version 1 in zone 'a', weight 1, with overrides. */
export function endpoint(id: string, over: Partial<ClusterEndpoint> = {}): ClusterEndpoint {
  return {
    id,
    address: `${id}:8001`,
    zone: 'a',
    weight: 1,
    priority: 0,
    health: 'HEALTHY',
    versions: ['1'],
    labels: {},
    load: { queueDepth: 0, inFlight: 0, latencyMs: 0 },
    capacity: 0,
    ...over,
  };
}

/** The built-in policy with sections replaced. */
export function policy(over: Partial<RoutingPolicy> = {}): RoutingPolicy {
  return { ...DEFAULT_POLICY, ...over };
}

/** One model cluster's state: a fake clock, its detector and one EndpointState per endpoint. */
export interface TestCluster {
  readonly clock: FakeClock;
  readonly detector: OutlierDetector<EndpointState>;
  readonly states: EndpointState[];
  /** The state of the endpoint with this id. */
  get(id: string): EndpointState;
}

/** Builds per-endpoint state for eps under a policy (default: the built-in one). */
export function cluster(eps: readonly ClusterEndpoint[], p: RoutingPolicy = DEFAULT_POLICY, clock = new FakeClock(0)): TestCluster {
  const detector = new OutlierDetector<EndpointState>(p.outlier_detection, clock);
  const estimator = estimatorsFor(p.p2c);
  const states = eps.map((e) => new EndpointState(e, { clock, estimator, breaker: p.circuit_breaker, detector }));
  return {
    clock,
    detector,
    states,
    get: (id) => {
      const s = states.find((x) => x.endpoint.id === id);
      if (!s) throw new Error(`no endpoint ${id}`);
      return s;
    },
  };
}

/** n endpoints e0..e(n-1). */
export function endpoints(n: number, over: (i: number) => Partial<ClusterEndpoint> = () => ({})): ClusterEndpoint[] {
  return Array.from({ length: n }, (_, i) => endpoint(`e${i}`, over(i)));
}

/** A picker context on the cluster's clock with a seeded random source. */
export function pickerContext(c: TestCluster, over: Partial<PickerContext> = {}, seed = 1): PickerContext {
  return { clock: c.clock, random: seededRandom(seed), metric: metricFor(DEFAULT_POLICY.p2c), choiceCount: 2, ...over };
}

/** A metric that returns a fixed cost per endpoint id (1 when unlisted). */
export function fixedMetric(costs: Readonly<Record<string, number>>): LoadMetric {
  return { cost: (s) => costs[s.endpoint.id] ?? 1 };
}

/** Picks n times; returns each endpoint's share of the picks by id (0 for never picked). */
export function shares(picker: Picker, ids: readonly string[], n: number): Record<string, number> {
  const counts: Record<string, number> = Object.fromEntries(ids.map((id) => [id, 0]));
  for (let i = 0; i < n; i++) {
    const r = picker.pick();
    if (r.kind !== 'pick') throw new Error(`unavailable: ${r.reason}`);
    counts[r.endpoint.endpoint.id]++;
  }
  for (const id of ids) counts[id] /= n;
  return counts;
}

/** Outlier settings for tests: short times, explicit values. */
export function outlierConfig(over: Partial<OutlierDetectionConfig> = {}): OutlierDetectionConfig {
  return {
    consecutive_failures: 3,
    interval_ms: 500,
    base_ejection_ms: 1000,
    max_ejection_ms: 2500,
    max_ejection_percent: 10,
    panic_threshold_percent: 50,
    ...over,
  };
}

/** A seeded random source (re-exported so tests need one import). */
export function rng(seed: number): Random {
  return seededRandom(seed);
}
