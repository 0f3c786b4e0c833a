// The shape of the operators' routing config (routing.yaml) once validated.
// The parser (parse.ts) produces exactly this, with every default
// filled in and every per-model and per-objective override already merged,
// so readers (discovery's GET /config, the balancer) never re-apply defaults.
// Field names are the YAML keys (snake_case). Optional fields are left out
// when absent, never set to undefined, so configs compare with deepEqual and
// the JSON sent to watchers shows only what applies.
import type { status } from '@grpc/grpc-js';

/** A gRPC status name, e.g. 'UNAVAILABLE'. */
export type StatusName = keyof typeof status;

/** A picker strategy; strategies register by name, the built-in ones are listed. */
export type PickerName = 'p2c' | 'round_robin' | 'least_request' | (string & {});

/**
 * Peak EWMA latency (Finagle, Linkerd): a sample above the estimate replaces
 * it at once; below, the estimate decays toward it with exp(-elapsed/decay).
 * Kept as `estimator: peak_ewma` for comparison; `latency` is the default.
 */
export interface PeakEwmaConfig {
  /** Estimate for an endpoint with no samples yet (ms); Linkerd's default 30. */
  readonly initial_rtt_ms: number;
  /** Decay time constant (ms); Linkerd's default 10 s. */
  readonly decay_ms: number;
}

/**
 * The default latency estimate (balancer/routing/load/latency-estimate.ts):
 * an EWMA weighted per sample, quicker to rise than to fall, that relaxes
 * toward the cluster's typical latency while an endpoint gets no samples.
 */
export interface LatencyEstimateConfig {
  /** Estimate before any endpoint of the cluster has a sample (ms); later endpoints start at the cluster's typical latency. */
  readonly initial_ms: number;
  /** Weight of a sample above the estimate (0-1]: slowing down is noticed within a few calls. */
  readonly rise_weight: number;
  /** Weight of a sample below the estimate (0-1]. */
  readonly fall_weight: number;
  /** Time constant (ms) of the pull toward the cluster's typical latency while no sample arrives. */
  readonly relax_ms: number;
  /** A failed call counts as a sample of at least this many times the estimate (>= 1). */
  readonly failure_factor: number;
}

/** What multiplies an endpoint's pending count: the latency estimate (default), peak EWMA, or nothing. */
export type EstimatorName = 'latency' | 'peak_ewma' | 'none';

/**
 * Power of two choices. An endpoint's cost is
 *   (1 + in_flight_weight × in_flight + queue_depth_weight × queue_depth) × expected latency (ms)
 * where expected latency is the estimator's figure, or the mean age of the
 * calls now in flight to it when that is larger (a stalled endpoint looks
 * slow before its first slow answer), and 1 for `estimator: none`.
 * Latency multiplies rather than adds so the cost stays in one unit
 * (expected wait) and no weight has to convert requests into milliseconds.
 * least_request ignores this cost: it scans every candidate for the fewest
 * of this balancer's calls in flight (the classic rule, kept for comparison).
 */
export interface P2cConfig {
  /** Distinct candidates drawn per pick (Envoy's choice_count); >= 2. */
  readonly choice_count: number;
  /** Weight of this balancer's in-flight calls to the endpoint; 0 ignores them. */
  readonly in_flight_weight: number;
  /** Weight of the queue depth the sidecar last reported (ORCA trailer or heartbeat); 0 ignores it. */
  readonly queue_depth_weight: number;
  /** A queue-depth report older than this (ms) is ignored (counted as 0). */
  readonly queue_depth_max_age_ms: number;
  /** The latency factor of the cost. */
  readonly estimator: EstimatorName;
  /** Settings of `estimator: latency`. */
  readonly latency: LatencyEstimateConfig;
  /** Settings of `estimator: peak_ewma`. */
  readonly peak_ewma: PeakEwmaConfig;
}

/**
 * Zone affinity: picks stay in the balancer's own zone (its --zone flag)
 * while that zone has an available endpoint and its load is at most
 * spillover_in_flight; beyond that, picks range over every zone.
 */
export interface ZoneAffinityConfig {
  /** Off: every zone is a candidate for every pick. */
  readonly enabled: boolean;
  /**
   * Mean in-flight requests per available local endpoint above which picks
   * spill to other zones. A load number, not a fraction: the sidecars report
   * in_flight counting every balancer's calls (this balancer's own count is
   * used while a report is stale), so it means the same with 1 or 50 balancers.
   */
  readonly spillover_in_flight: number;
}

/**
 * Shard key: requests carrying the key are hashed consistently onto a subset
 * of subset_size endpoints (same key, same subset while the set is stable),
 * and the picker chooses within it. Requests without the key use every endpoint.
 */
export interface ShardConfig {
  /** Where the key is read: gRPC metadata / HTTP header, or a request parameter (ModelInferRequest.parameters). */
  readonly from: 'header' | 'parameter';
  /** Header name (lowercased, as gRPC metadata keys are) or parameter name. */
  readonly key: string;
  /** Endpoints per key; >= 1. */
  readonly subset_size: number;
}

/** Outlier detection with Envoy's defaults: consecutive failures eject an endpoint for a growing time. */
export interface OutlierDetectionConfig {
  /** Consecutive failed calls that eject an endpoint; 0 turns ejection off. Default 5. */
  readonly consecutive_failures: number;
  /** How often ejections are reviewed and expired ones returned (ms). Default 10 s. */
  readonly interval_ms: number;
  /** Ejection time = base × number of times ejected (ms). Default 30 s. */
  readonly base_ejection_ms: number;
  /** Cap on one ejection's time (ms). Default 300 s. */
  readonly max_ejection_ms: number;
  /** Never eject more than this share of the model's endpoints (0-100). Default 10. */
  readonly max_ejection_percent: number;
  /**
   * Below this share (0-100) of available endpoints, health and ejections are
   * ignored (panic mode); a full per-endpoint breaker still is not, since a
   * cap that panic lifts is no cap. Default 50.
   */
  readonly panic_threshold_percent: number;
}

/** Per-endpoint circuit breaker. */
export interface CircuitBreakerConfig {
  /** In-flight calls per endpoint beyond which it is skipped and calls fail fast. Default 1024 (Envoy's). */
  readonly max_in_flight: number;
}

/** Retries and hedging. Connection failures are always retryable. */
export interface RetryConfig {
  /** Retries per call after the first attempt, each on a different endpoint when one exists. */
  readonly max_retries: number;
  /** Retries (and hedges) in flight may be at most this share (0-100) of active calls... */
  readonly budget_percent: number;
  /** ...or this many, whichever is larger (Envoy's retry budget floor). */
  readonly min_retry_concurrency: number;
  /** Statuses that are retried. Default UNAVAILABLE, RESOURCE_EXHAUSTED. */
  readonly retryable_statuses: readonly StatusName[];
  /** Deadline of each attempt (ms), within the call's own; 0 = the call's deadline only. */
  readonly per_try_timeout_ms: number;
  /** Send a second copy to another endpoint when no response came after this (ms); first answer wins; 0 = no hedging. */
  readonly hedge_delay_ms: number;
}

/**
 * How a client's ModelStreamInfer stream is balanced. per_message: every
 * message is routed on its own (picker, retries, split), answers may come
 * out of order. per_stream: the first message picks one endpoint and the
 * stream's messages go to it, Envoy's and Linkerd's way, moving to another
 * endpoint when that one drains or fails (balancer/front/stream-pinned.ts).
 */
export type StreamRouting = 'per_message' | 'per_stream';

/** How requests for one model (or objective) are routed: defaults merged with its overrides. */
export interface RoutingPolicy {
  /** The strategy that picks an endpoint among the candidates. */
  readonly picker: PickerName;
  /** How ModelStreamInfer streams are balanced. */
  readonly stream_routing: StreamRouting;
  /** Used by the p2c picker (least_request reads only in-flight counts). */
  readonly p2c: P2cConfig;
  /** Local-zone preference and when to spill over. */
  readonly zone_affinity: ZoneAffinityConfig;
  /** Absent: no shard key. */
  readonly shard?: ShardConfig;
  /** When failing endpoints are ejected, and for how long. */
  readonly outlier_detection: OutlierDetectionConfig;
  /** Per-endpoint in-flight cap. */
  readonly circuit_breaker: CircuitBreakerConfig;
  /** Retries, retry budget, per-try timeout and hedging. */
  readonly retry: RetryConfig;
}

/** One version's share of a split. */
export interface VersionWeight {
  /** A positive integer version, as a string. */
  readonly version: string;
  /** Relative weight; 0 keeps the version listed but sends it nothing (a rollback). */
  readonly weight: number;
}

/** Mirror a share of calls to another version; its responses are discarded. */
export interface ShadowConfig {
  /** The version that receives the copies; never one the split or pinned version sends live traffic to. */
  readonly version: string;
  /** Share of calls copied (0-100). */
  readonly percent: number;
}

/**
 * Where a model's (or an objective's) calls go. A call that names a version
 * goes to that version; otherwise to `version` when pinned, else by `split`
 * (shares = weight / total), else to any endpoint serving the model.
 */
export interface Route {
  /** The model calls are sent to. */
  readonly model: string;
  /** Pinned version (objectives only); exclusive with split. */
  readonly version?: string;
  /** Version split, ascending by version; weights sum to > 0. */
  readonly split?: readonly VersionWeight[];
  /** Copies of a share of calls, sent to another version. */
  readonly shadow?: ShadowConfig;
  /** How endpoints are chosen for these calls. */
  readonly policy: RoutingPolicy;
}

/** A model and the versions an endpoint serves. */
export interface EndpointModel {
  /** Model name, as requests name it. */
  readonly name: string;
  /** Positive integer versions; empty: the model's versionless default. */
  readonly versions: readonly string[];
}

/** A sidecar that does not self-register, listed in the config. */
export interface StaticEndpoint {
  /** host:port of its gRPC server. */
  readonly address: string;
  /** Zone for zone affinity; '' when unknown (never local). */
  readonly zone: string;
  /** Relative pick weight, an integer >= 1 (the wire's uint32). Default 1. */
  readonly weight: number;
  /** What it serves; at least one model. */
  readonly models: readonly EndpointModel[];
}

/** Operator overrides for one endpoint, static or self-registered, matched by address. */
export interface EndpointOverride {
  /** Replaces the endpoint's own weight. */
  readonly weight?: number;
  /** Send it no new calls; calls in flight finish. */
  readonly drain: boolean;
}

/** The whole validated routing config. Look names up with Object.hasOwn (or the helpers), never `in`. */
export interface RoutingConfig {
  /** The policy of every model not listed under models. */
  readonly defaults: RoutingPolicy;
  /** Per model: its route, policy merged over defaults. */
  readonly models: Readonly<Record<string, Route>>;
  /** Per objective (a use case clients name instead of a model): its route, merged over its model's. */
  readonly objectives: Readonly<Record<string, Route>>;
  /** Sidecars that do not self-register; addresses unique. */
  readonly endpoints: readonly StaticEndpoint[];
  /** Keyed by host:port. */
  readonly endpoint_overrides: Readonly<Record<string, EndpointOverride>>;
}
