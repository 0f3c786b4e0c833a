// The discovery domain in plain TypeScript, independent of the wire format:
// stores keep EndpointRecords, the watch hub turns them into per-model
// cluster changes, and only discovery/server/service.ts / discovery/client/watcher.ts touch proto messages.

/** How balancers should treat an endpoint (proto HealthStatus minus UNKNOWN). */
export type Health = 'HEALTHY' | 'DRAINING' | 'UNHEALTHY';

/** The health values, for validation and iteration. */
export const HEALTH_VALUES: readonly Health[] = ['HEALTHY', 'DRAINING', 'UNHEALTHY'];

/** One model an endpoint serves. */
export interface ModelServed {
  /** Model name: also the cluster name. */
  readonly name: string;
  /** Versions loaded. */
  readonly versions: readonly string[];
}

/** Coarse load carried by heartbeats. */
export interface LoadSummary {
  /** Requests waiting in the batcher queues. */
  readonly queueDepth: number;
  /** Requests accepted and not yet answered. */
  readonly inFlight: number;
  /** Latency EWMA in milliseconds. */
  readonly latencyMs: number;
}

/** A load summary of nothing. */
export const NO_LOAD: LoadSummary = { queueDepth: 0, inFlight: 0, latencyMs: 0 };

/** What a store keeps per endpoint (stored as JSON in etcd). */
export interface EndpointRecord {
  /** Stable id (defaults to the address). */
  readonly id: string;
  /** host:port balancers dial. */
  readonly address: string;
  /** Failure domain. */
  readonly zone: string;
  /** Free-form labels. */
  readonly labels: Readonly<Record<string, string>>;
  /** Models served. */
  readonly models: readonly ModelServed[];
  /** Relative traffic share, at least 1. */
  readonly weight: number;
  /** Most in-flight requests; 0 = unknown. */
  readonly capacity: number;
  /** Priority level, 0 highest. */
  readonly priority: number;
  /** Current health. */
  readonly health: Health;
  /** Last published load. */
  readonly load: LoadSummary;
}

/** One endpoint as seen within one model cluster (the wire's LbEndpoint). */
export interface ClusterEndpoint {
  /** Endpoint id. */
  readonly id: string;
  /** host:port. */
  readonly address: string;
  /** Failure domain. */
  readonly zone: string;
  /** Relative traffic share. */
  readonly weight: number;
  /** Priority level, 0 highest. */
  readonly priority: number;
  /** Current health. */
  readonly health: Health;
  /** Versions of this cluster's model served. */
  readonly versions: readonly string[];
  /** Free-form labels. */
  readonly labels: Readonly<Record<string, string>>;
  /** Last published load. */
  readonly load: LoadSummary;
  /** Most in-flight requests; 0 = unknown. */
  readonly capacity: number;
}

/** A change to one cluster. REMOVE carries the endpoint as it was last seen. */
export interface ClusterChange {
  /** What happened. */
  readonly type: 'INSERT' | 'UPDATE' | 'REMOVE';
  /** Model (cluster) name. */
  readonly cluster: string;
  /** The endpoint after the change (before it, for REMOVE). */
  readonly endpoint: ClusterEndpoint;
}

/** One version of the routing config, as pushed to watchers. */
export interface RoutingConfigVersion {
  /** Grows with every accepted reload; 0 means "no config". */
  readonly version: number;
  /** The validated config as JSON text. */
  readonly json: string;
}

/**
 * Where the routing config comes from (implemented by the routing-config
 * module). Discovery only relays versions to watchers and the admin page.
 */
export interface ConfigSource {
  /** The config in force, or undefined when there is none. */
  current(): RoutingConfigVersion | undefined;
  /** Calls cb after every accepted reload; returns an unsubscribe function. */
  onChange(cb: (cfg: RoutingConfigVersion) => void): () => void;
  /** Stops watching files and signals. */
  close?(): void;
}

/** A message for one watcher, in domain form (server/service.ts encodes it with wire.ts). */
export interface HubMessage {
  /** History the version belongs to. */
  readonly epoch: string;
  /** View version after this message. */
  readonly version: number;
  /** True: `clusters` replaces the watcher's whole view. */
  readonly snapshot: boolean;
  /** Full view (snapshots only), cluster → endpoints sorted by id. */
  readonly clusters: ReadonlyMap<string, readonly ClusterEndpoint[]>;
  /** Changes to apply in order (deltas only). */
  readonly changes: readonly ClusterChange[];
  /** New routing config, when it changed for this watcher. */
  readonly config?: RoutingConfigVersion;
  /** The server is warming up: its view may lack live endpoints (WatchResponse.partial). */
  readonly partial: boolean;
}
