// Reads the routing-policy sections of routing.yaml (defaults, a model, an
// objective). Each layer is read over the layer below it, field by field:
// `p2c: { choice_count: 3 }` in a model changes only choice_count and keeps
// every other p2c field from defaults. Reading over the base (rather than
// producing partial overrides to merge later) keeps one code path and lets
// cross-field checks see the values that will actually apply.
import type { Mapping, Value } from '../common/config-check';
import { Status } from '../protocol/status';
import type {
  CircuitBreakerConfig,
  EstimatorName,
  OutlierDetectionConfig,
  P2cConfig,
  RetryConfig,
  RoutingPolicy,
  ShardConfig,
  StatusName,
  StreamRouting,
  ZoneAffinityConfig,
} from './types';

const STREAM_ROUTINGS: readonly StreamRouting[] = ['per_message', 'per_stream'];

/** Built-in defaults: Envoy's for outlier detection, breakers and retry budgets; Linkerd's for peak EWMA. */
export const DEFAULT_POLICY: RoutingPolicy = {
  picker: 'p2c',
  stream_routing: 'per_message',
  p2c: {
    choice_count: 2,
    // A sidecar batches: a call more in flight adds a fraction of a call's time, not a whole one
    // (Linkerd's weight 1 assumes one call at a time). With 1 (and 0.25), three calls in flight
    // at a fast sidecar outweighed a 2.5x slower idle one: the +5 ms sidecar took 4 % of calls
    // in the routing simulation, 1.7 % at 0.1. See BENCHMARKS.md, "Choosing well".
    in_flight_weight: 0.1,
    queue_depth_weight: 0.1,
    // Sidecars report on every response and in heartbeats; two seconds without one means the figure is history.
    queue_depth_max_age_ms: 2000,
    estimator: 'latency',
    latency: { initial_ms: 30, rise_weight: 0.5, fall_weight: 0.2, relax_ms: 250, failure_factor: 4 },
    peak_ewma: { initial_rtt_ms: 30, decay_ms: 10_000 },
  },
  // 32 is half the 64-item batch the bundled models take: past it, the local queue is building.
  zone_affinity: { enabled: true, spillover_in_flight: 32 },
  outlier_detection: {
    consecutive_failures: 5,
    interval_ms: 10_000,
    base_ejection_ms: 30_000,
    max_ejection_ms: 300_000,
    max_ejection_percent: 10,
    panic_threshold_percent: 50,
  },
  circuit_breaker: { max_in_flight: 1024 },
  retry: {
    max_retries: 2,
    budget_percent: 20,
    min_retry_concurrency: 3,
    retryable_statuses: ['UNAVAILABLE', 'RESOURCE_EXHAUSTED'],
    per_try_timeout_ms: 0,
    hedge_delay_ms: 0,
  },
};

/** Policy sections a model (and defaults) may set. */
export const POLICY_KEYS = [
  'picker',
  'stream_routing',
  'p2c',
  'zone_affinity',
  'shard',
  'outlier_detection',
  'circuit_breaker',
  'retry',
] as const;
/**
 * Policy sections an objective may set: only per-call decisions. p2c (its
 * EWMA), outlier detection and breakers configure state kept per endpoint of
 * the model's cluster, which every objective on that model shares.
 */
export const OBJECTIVE_POLICY_KEYS = ['picker', 'stream_routing', 'zone_affinity', 'shard', 'retry'] as const;

type PolicyKey = (typeof POLICY_KEYS)[number];

const P2C_KEYS = ['choice_count', 'in_flight_weight', 'queue_depth_weight', 'queue_depth_max_age_ms', 'estimator', 'latency', 'peak_ewma'];
const ESTIMATORS: readonly EstimatorName[] = ['latency', 'peak_ewma', 'none'];
const LATENCY_KEYS = Object.keys(DEFAULT_POLICY.p2c.latency);
const EWMA_KEYS = Object.keys(DEFAULT_POLICY.p2c.peak_ewma);
const ZONE_KEYS = ['enabled', 'spillover_in_flight'];
const SHARD_KEYS = ['header', 'parameter', 'subset_size'];
const OUTLIER_KEYS = Object.keys(DEFAULT_POLICY.outlier_detection);
const RETRY_KEYS = Object.keys(DEFAULT_POLICY.retry);
/** Statuses a retry policy may name; OK is never a failure. */
export const STATUS_NAMES = Object.keys(Status).filter((k) => Number.isNaN(Number(k)) && k !== 'OK') as StatusName[];
/** gRPC metadata keys: lowercase letters, digits, '-', '_', '.'. */
const METADATA_KEY = /^[0-9a-z_.-]+$/;

/** Reads the policy keys (a subset of POLICY_KEYS) present in m over base. */
export function readPolicy(m: Mapping, keys: readonly PolicyKey[], base: RoutingPolicy, pickers: readonly string[]): RoutingPolicy {
  const get = (k: PolicyKey) => (keys.includes(k) ? m.get(k) : undefined);
  const section = <T>(k: PolicyKey, sectionKeys: readonly string[], b: T, read: (s: Mapping, b: T) => T): T => {
    const v = get(k);
    if (!v) return b;
    const s = v.map(sectionKeys);
    return s.broken ? b : read(s, b);
  };
  const pickerV = get('picker');
  const streamV = get('stream_routing');
  const shardV = get('shard');
  const shard = shardV ? readShard(shardV, base.shard) : base.shard;
  return {
    picker: (pickerV && pickerV.oneOf(pickers)) ?? base.picker,
    stream_routing: (streamV && streamV.oneOf(STREAM_ROUTINGS)) ?? base.stream_routing,
    p2c: section('p2c', P2C_KEYS, base.p2c, readP2c),
    zone_affinity: section('zone_affinity', ZONE_KEYS, base.zone_affinity, readZone),
    ...(shard && { shard }),
    outlier_detection: section('outlier_detection', OUTLIER_KEYS, base.outlier_detection, readOutlier),
    circuit_breaker: section('circuit_breaker', ['max_in_flight'], base.circuit_breaker, readBreaker),
    retry: section('retry', RETRY_KEYS, base.retry, readRetry),
  };
}

/** A number > 0 (Range bounds are inclusive, so this is its own reader). */
export function positive(v: Value): number | undefined {
  const n = v.number();
  return n === undefined || n > 0 ? n : v.fail('a number > 0');
}

function readP2c(s: Mapping, b: P2cConfig): P2cConfig {
  const e = s.section('peak_ewma', EWMA_KEYS);
  const l = s.section('latency', LATENCY_KEYS);
  const estimatorV = s.get('estimator');
  const weight = (v: Value) => {
    const n = v.number();
    return n === undefined || (n > 0 && n <= 1) ? n : v.fail('a weight > 0 and <= 1');
  };
  const p: P2cConfig = {
    choice_count: s.opt('choice_count', b.choice_count, (v) => v.int({ min: 2 })),
    in_flight_weight: s.opt('in_flight_weight', b.in_flight_weight, (v) => v.number({ min: 0 })),
    queue_depth_weight: s.opt('queue_depth_weight', b.queue_depth_weight, (v) => v.number({ min: 0 })),
    queue_depth_max_age_ms: s.opt('queue_depth_max_age_ms', b.queue_depth_max_age_ms, (v) => v.int({ min: 1 })),
    estimator: (estimatorV && estimatorV.oneOf(ESTIMATORS)) ?? b.estimator,
    latency: {
      initial_ms: l.opt('initial_ms', b.latency.initial_ms, positive),
      rise_weight: l.opt('rise_weight', b.latency.rise_weight, weight),
      fall_weight: l.opt('fall_weight', b.latency.fall_weight, weight),
      relax_ms: l.opt('relax_ms', b.latency.relax_ms, positive),
      failure_factor: l.opt('failure_factor', b.latency.failure_factor, (v) => v.number({ min: 1 })),
    },
    peak_ewma: {
      initial_rtt_ms: e.opt('initial_rtt_ms', b.peak_ewma.initial_rtt_ms, positive),
      decay_ms: e.opt('decay_ms', b.peak_ewma.decay_ms, positive),
    },
  };
  // Every cost would be 1: picks would be random while looking load-aware.
  if (p.in_flight_weight === 0 && p.queue_depth_weight === 0 && p.estimator === 'none') {
    s.value.fail(
      'at least one load signal: a weight > 0 or an estimator other than none (picker round_robin ignores load on purpose)',
      'no load signal',
    );
  }
  return p;
}

function readZone(s: Mapping, b: ZoneAffinityConfig): ZoneAffinityConfig {
  return {
    enabled: s.opt('enabled', b.enabled, (v) => v.bool()),
    spillover_in_flight: s.opt('spillover_in_flight', b.spillover_in_flight, (v) => v.number({ min: 0 })),
  };
}

/** `false` turns off a shard key set by a lower layer; a mapping names header or parameter (or inherits it). */
function readShard(v: Value, b: ShardConfig | undefined): ShardConfig | undefined {
  if (v.raw() === false) return undefined;
  const s = v.map(SHARD_KEYS);
  if (s.broken) return b;
  const headerV = s.get('header');
  const paramV = s.get('parameter');
  if (headerV && paramV) paramV.fail('only one of header or parameter', 'both header and parameter');
  let source: Pick<ShardConfig, 'from' | 'key'> | undefined = b;
  if (headerV) {
    // gRPC lowercases metadata keys on the wire, so X-Tenant and x-tenant name the same header.
    const key = headerV.string()?.toLowerCase();
    if (key !== undefined && !METADATA_KEY.test(key)) headerV.fail("a metadata key: letters, digits, '-', '_' or '.'");
    else if (key !== undefined) source = { from: 'header', key };
  } else if (paramV) {
    const key = paramV.string();
    if (key !== undefined) source = { from: 'parameter', key };
  } else if (!b) {
    s.field('header').fail('a header or a parameter to read the shard key from (or shard: false)');
  }
  const subset = s.opt('subset_size', b?.subset_size ?? 3, (x) => x.int({ min: 1 }));
  return source && { from: source.from, key: source.key, subset_size: subset };
}

function readOutlier(s: Mapping, b: OutlierDetectionConfig): OutlierDetectionConfig {
  const o: OutlierDetectionConfig = {
    consecutive_failures: s.opt('consecutive_failures', b.consecutive_failures, (v) => v.int({ min: 0 })),
    interval_ms: s.opt('interval_ms', b.interval_ms, (v) => v.int({ min: 1 })),
    base_ejection_ms: s.opt('base_ejection_ms', b.base_ejection_ms, (v) => v.int({ min: 1 })),
    max_ejection_ms: s.opt('max_ejection_ms', b.max_ejection_ms, (v) => v.int({ min: 1 })),
    max_ejection_percent: s.opt('max_ejection_percent', b.max_ejection_percent, (v) => v.number({ min: 0, max: 100 })),
    panic_threshold_percent: s.opt('panic_threshold_percent', b.panic_threshold_percent, (v) => v.number({ min: 0, max: 100 })),
  };
  if (o.base_ejection_ms > o.max_ejection_ms) {
    (s.get('max_ejection_ms') ?? s.get('base_ejection_ms') ?? s.value).fail(
      `max_ejection_ms >= base_ejection_ms`,
      `base_ejection_ms ${o.base_ejection_ms} above max_ejection_ms ${o.max_ejection_ms}`,
    );
  }
  return o;
}

function readBreaker(s: Mapping, b: CircuitBreakerConfig): CircuitBreakerConfig {
  return { max_in_flight: s.opt('max_in_flight', b.max_in_flight, (v) => v.int({ min: 1 })) };
}

function readRetry(s: Mapping, b: RetryConfig): RetryConfig {
  const seen = new Set<string>();
  const r: RetryConfig = {
    max_retries: s.opt('max_retries', b.max_retries, (v) => v.int({ min: 0 })),
    budget_percent: s.opt('budget_percent', b.budget_percent, (v) => v.number({ min: 0, max: 100 })),
    min_retry_concurrency: s.opt('min_retry_concurrency', b.min_retry_concurrency, (v) => v.int({ min: 0 })),
    retryable_statuses: s.opt('retryable_statuses', b.retryable_statuses, (l) =>
      l.list(
        (v) => {
          const name = v.oneOf(STATUS_NAMES);
          if (name !== undefined && seen.has(name)) return v.fail('each status once', `${v.describe()} again`);
          if (name !== undefined) seen.add(name);
          return name;
        },
        { what: 'a list of gRPC status names, e.g. [UNAVAILABLE]' },
      ),
    ),
    per_try_timeout_ms: s.opt('per_try_timeout_ms', b.per_try_timeout_ms, (v) => v.int({ min: 0 })),
    hedge_delay_ms: s.opt('hedge_delay_ms', b.hedge_delay_ms, (v) => v.int({ min: 0 })),
  };
  const at = s.get('hedge_delay_ms') ?? s.value;
  if (r.hedge_delay_ms > 0 && r.max_retries === 0) {
    at.fail('max_retries >= 1 when hedging (a hedge is a second attempt)', `hedge_delay_ms ${r.hedge_delay_ms} with max_retries 0`);
  } else if (r.hedge_delay_ms > 0 && r.per_try_timeout_ms > 0 && r.hedge_delay_ms >= r.per_try_timeout_ms) {
    // The attempt would time out and be retried before the hedge went out: the hedge could never fire.
    at.fail(`hedge_delay_ms below per_try_timeout_ms (${r.per_try_timeout_ms})`, `hedge_delay_ms ${r.hedge_delay_ms}`);
  }
  return r;
}
