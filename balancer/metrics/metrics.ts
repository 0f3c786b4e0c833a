// Prometheus metrics for one balancer. A Registry of our own (not
// prom-client's global) so tests can run a balancer beside sidecars in one
// process. prom-client hashes the label set on every labelled call, so the
// data path holds resolved children: per endpoint (EndpointMetrics, built
// with the endpoint's state) and per route (RouteMetrics, built with the
// route's state), looked up by small maps and a status-indexed array.
// Figures the balancer already keeps (ejected endpoints, breaker fullness,
// connections, config version) are read at scrape time, not mirrored.
// Under --workers the primary sums each worker's series (AggregatorRegistry);
// gauges that are a per-worker state rather than a count say 'max' instead.
import { Counter, Gauge, Registry, collectDefaultMetrics } from 'prom-client';
import { CounterChild, FastCounter, FastHistogram, HistogramChild } from './metric-fast';
import { Status } from '../../protocol/status';

// Seconds, 250 µs to 10 s: proxied inference spans sub-ms cache hits to multi-second batches.
const LATENCY_BUCKETS = [0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10];

/** Model label for calls naming a model the balancer has no cluster for (unknown or forgotten): client-chosen names must not grow the series set. */
export const UNKNOWN_MODEL = '_unknown';

/**
 * What scrape-time gauges read of the clusters: the shape of routing/clusters.ts's Clusters,
 * stated here so that metrics, which routing records into, imports nothing of routing.
 */
export interface ObservedClusters {
  readonly byModel: ReadonlyMap<
    string,
    {
      readonly model: string;
      readonly ejectedCount: number;
      readonly members: ReadonlyMap<
        string,
        {
          readonly raw: { readonly address: string };
          readonly state: { readonly breaker: { readonly inFlight: number; readonly max: number } };
        }
      >;
    }
  >;
  readonly upstream: { connectedCounts(): Array<[string, number]> };
}

/** What scrape-time gauges read. */
export interface MetricsSources {
  readonly clusters: ObservedClusters;
  /** Version of the routing config in force. */
  configVersion(): number;
}

/** The balancer's metric families. */
export class BalancerMetrics {
  readonly registry = new Registry();
  /** Client calls finished, by model, version, the last endpoint tried ('' when none) and status. */
  readonly requests = new FastCounter(
    this.registry,
    'infergate_balancer_requests_total',
    'Client calls finished, by model, version, last endpoint tried and gRPC status',
    ['model', 'version', 'endpoint', 'status'],
  );
  /** Client-visible latency, retries included. */
  readonly latency = new FastHistogram(
    this.registry,
    'infergate_balancer_request_seconds',
    'Client-visible call latency through the balancer, retries included',
    ['model', 'version'],
    LATENCY_BUCKETS,
  );
  /** One upstream attempt's latency. */
  readonly upstreamLatency = new FastHistogram(
    this.registry,
    'infergate_balancer_upstream_seconds',
    'Latency of one upstream attempt, send to final status, by endpoint',
    ['endpoint'],
    LATENCY_BUCKETS,
  );
  /** Retries sent, by the status of the attempt that failed (or connection_failure, refused). */
  readonly retries = new Counter({
    name: 'infergate_balancer_retries_total',
    help: "Retry attempts sent, by model and the failed attempt's reason",
    labelNames: ['model', 'reason'],
    registers: [this.registry],
  });
  /** Attempts sent to each endpoint (picks that got an in-flight slot). */
  readonly picks = new FastCounter(
    this.registry,
    'infergate_balancer_picks_total',
    'Attempts sent to an endpoint (picks that got an in-flight slot)',
    ['endpoint'],
  );
  /** Outlier ejections. */
  readonly ejections = new Counter({
    name: 'infergate_balancer_ejections_total',
    help: 'Outlier ejections, by model',
    labelNames: ['model'],
    registers: [this.registry],
  });

  constructor() {
    collectDefaultMetrics({ register: this.registry });
  }

  /** Adds the gauges read at scrape time; call once. */
  watch(src: MetricsSources): void {
    const { clusters } = src;
    new Gauge({
      name: 'infergate_balancer_ejected_endpoints',
      help: 'Endpoints ejected by outlier detection now, by model',
      labelNames: ['model'],
      registers: [this.registry],
      aggregator: 'max',
      collect() {
        this.reset();
        for (const c of clusters.byModel.values()) this.set({ model: c.model }, c.ejectedCount);
      },
    });
    new Gauge({
      name: 'infergate_balancer_breaker_fullness',
      help: 'In-flight calls over the in-flight cap (1 = full), by model and endpoint',
      labelNames: ['model', 'endpoint'],
      registers: [this.registry],
      aggregator: 'max',
      collect() {
        this.reset();
        for (const c of clusters.byModel.values()) {
          for (const m of c.members.values())
            this.set({ model: c.model, endpoint: m.raw.address }, m.state.breaker.inFlight / m.state.breaker.max);
        }
      },
    });
    new Gauge({
      name: 'infergate_balancer_upstream_connections',
      help: 'Upstream channels connected (READY) now, by endpoint',
      labelNames: ['endpoint'],
      registers: [this.registry],
      collect() {
        this.reset();
        for (const [address, n] of clusters.upstream.connectedCounts()) this.set({ endpoint: address }, n);
      },
    });
    new Gauge({
      name: 'infergate_balancer_config_version',
      help: 'Version of the routing config in force (0: none, the built-in policy)',
      registers: [this.registry],
      aggregator: 'max',
      collect() {
        this.set(src.configVersion());
      },
    });
  }

  /** Children for one endpoint of a model cluster. */
  endpoint(address: string): EndpointMetrics {
    return new EndpointMetrics(this, address);
  }

  /** Children for one route; model is the routed model's label value. */
  route(model: string): RouteMetrics {
    return new RouteMetrics(this, model);
  }
}

/** An endpoint's resolved children; EndpointState reports every attempt through it (its EndpointObserver). */
export class EndpointMetrics {
  private readonly pickCount: CounterChild;
  private readonly attemptLatency: HistogramChild;

  constructor(m: BalancerMetrics, address: string) {
    this.pickCount = m.picks.child(address);
    this.attemptLatency = m.upstreamLatency.child(address);
  }

  /** An attempt got an in-flight slot. */
  started(): void {
    this.pickCount.inc();
  }

  /** An attempt ended after latencyMs. */
  ended(latencyMs: number): void {
    this.attemptLatency.observe(latencyMs / 1000);
  }
}

/** A route's resolved children, keyed by version, endpoint and status code. */
export class RouteMetrics {
  private readonly byVersion = new Map<string, { latency: HistogramChild; byEndpoint: Map<string, CounterChild[]> }>();
  private readonly byReason = new Map<string, Counter.Internal>();

  constructor(
    private readonly m: BalancerMetrics,
    readonly model: string,
  ) {}

  /** Records a finished client call: its status, the last endpoint tried ('' for none) and its latency. */
  finished(version: string, endpoint: string, code: Status, latencyMs: number): void {
    this.counted(version, endpoint, code).observe(latencyMs / 1000);
  }

  /**
   * Counts a finished call without a latency (a per_stream stream, whose length is the client's
   * business); returns the version's latency histogram.
   */
  counted(version: string, endpoint: string, code: Status): HistogramChild {
    let v = this.byVersion.get(version);
    if (!v) this.byVersion.set(version, (v = { latency: this.m.latency.child(this.model, version), byEndpoint: new Map() }));
    let codes = v.byEndpoint.get(endpoint);
    if (!codes) v.byEndpoint.set(endpoint, (codes = []));
    const c = codes[code] ?? (codes[code] = this.m.requests.child(this.model, version, endpoint, Status[code] ?? String(code)));
    c.inc();
    return v.latency;
  }

  /** Records a retry; reason: the failed attempt's status name, connection_failure, or refused (never processed). */
  retried(reason: string): void {
    let c = this.byReason.get(reason);
    if (!c) this.byReason.set(reason, (c = this.m.retries.labels(this.model, reason)));
    c.inc();
  }
}
