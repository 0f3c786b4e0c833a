// Load metrics: one number per endpoint, lower is better. Kept apart from
// the choice rules (tower's Load trait vs balance/p2c) so P2C, least-request
// and anything registered later compare costs without knowing what is in
// them, and a metric is tested without a picker.
import type { P2cConfig } from '../../../routing-config/types';
import type { EndpointState } from '../endpoint-state';

/** An endpoint's cost now; lower is better. May update time-decayed state (peak EWMA reads decay it). */
export interface LoadMetric {
  /** The cost of sending one more call to `s` at clock time `now`. */
  cost(s: EndpointState, now: number): number;
}

/**
 * The routing config's P2C cost (routing-config/types.ts, P2cConfig):
 *   (1 + in_flight_weight × local in-flight + queue_depth_weight × reported queue depth)
 *     × max(latency estimate, mean age of the calls in flight)     (estimator: none → × 1)
 * i.e. Linkerd's rtt × (pending + 1), with the work ahead counted from both
 * this balancer's calls and the sidecar's queue. A queue-depth report older
 * than queue_depth_max_age_ms counts as 0: a stale figure would keep an
 * endpoint looking busy (or idle) long after it stopped being so.
 *
 * The in-flight age covers what every estimate built from finished calls
 * misses: an endpoint that just stalled answers nothing, so its estimate
 * stays low while its calls wait. Their mean age passes the estimate within
 * one fast call's time, and the endpoint stops drawing picks before its
 * first slow answer (the turn-slow cell of bench:skew-matrix).
 */
export class ComposedMetric implements LoadMetric {
  constructor(private readonly config: P2cConfig) {}

  /** See the class doc. */
  cost(s: EndpointState, now: number): number {
    const c = this.config;
    const pending = 1 + c.in_flight_weight * s.inFlight + c.queue_depth_weight * s.queueDepth(now, c.queue_depth_max_age_ms);
    return c.estimator === 'none' ? pending : pending * Math.max(s.latency.estimate(now, s.callsInFlight), s.inFlightAge(now));
  }
}

/** Pending requests only: this balancer's in-flight calls (classic least-request / least_conn). */
export const pendingMetric: LoadMetric = {
  cost: (s) => s.inFlight,
};

/** The metric a policy's p2c section describes. */
export function metricFor(config: P2cConfig): LoadMetric {
  return new ComposedMetric(config);
}
