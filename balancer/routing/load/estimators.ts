// Which latency estimator a cluster's endpoints get, from the policy's p2c
// section: kept apart from the metric (load-metric.ts reads an endpoint's
// estimate) and from endpoint state (which holds one), so neither imports
// the other's module.
import type { P2cConfig } from '../../../routing-config/types';
import { ClusterLatency, type LatencyEstimator } from './latency-estimate';
import { PeakEwma } from './peak-ewma';

/** Makes each endpoint's latency estimator for one cluster and policy. */
export type EstimatorFactory = (now: number) => LatencyEstimator;

/**
 * The estimator factory of a p2c section, sharing one ClusterLatency among
 * the cluster's endpoints. `none` still keeps the default estimate, for
 * /status; the metric ignores it.
 */
export function estimatorsFor(config: P2cConfig): EstimatorFactory {
  if (config.estimator === 'peak_ewma') return (now) => new PeakEwma(config.peak_ewma, now);
  const cluster = new ClusterLatency(config.latency.initial_ms, config.latency.relax_ms);
  return (now) => cluster.join(config.latency, now);
}
