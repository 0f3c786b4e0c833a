// Proxyless mode: the client watches discovery itself and picks sidecars
// directly, with no balancer hop (as Databricks' serving clients do). It is
// the balancer's routing core (balancer/core.ts), not a copy of it: the same
// DiscoveryWatcher feeding the same Clusters (per-endpoint state, outlier
// ejection, load reports from the sidecars' trailers), and the same Router
// (version splits, objectives, shard subsets, P2C on in-flight + reported
// queue + peak EWMA, retries within a budget, deadlines), minus the
// balancer's servers. Stream messages take the router's streamKey path:
// shared long-lived upstream streams per sidecar.
//
// Static stability carries over: the watcher keeps its last view while
// discovery is unreachable, and nothing on the call path waits on it.
import { systemClock, systemRandom, type Clock, type Random } from '../common/clock';
import { silentLogger, type Logger } from '../common/log';
import type { DiscoveryWatcher } from '../discovery/client/watcher';
import {
  RoutingCore,
  type BalancerMetrics,
  type CancelFn,
  type Clusters,
  type RouteCall,
  type RouteOutcome,
  type Router,
} from '../balancer/core';
import type { Transport } from './transport';

/** Options for proxyless mode. */
export interface ProxylessOptions {
  /** Discovery address(es): host:port[,host:port...]. */
  readonly discovery: string;
  /** This client's zone, for zone affinity ('' = none, the default). */
  readonly zone?: string;
  /** Models to watch (default: all). */
  readonly models?: readonly string[];
  /** Connections kept per sidecar (default 1: a client is one of many callers). */
  readonly channelsPerEndpoint?: number;
  /** Where the watcher and clusters log (default: nowhere). */
  readonly log?: Logger;
  /** Name shown on discovery's admin page (default client-<pid>). */
  readonly watcherId?: string;
  /** Balancer metrics to record into (default: none). */
  readonly metrics?: BalancerMetrics;
  /** Time source for the routing core (tests inject a fake). */
  readonly clock?: Clock;
  /** Random source for picks and splits (tests pin a seed). */
  readonly random?: Random;
}

/** A Transport that routes over discovery's view with the balancer's router. */
export class ProxylessTransport implements Transport {
  /** The balancer's router: picks, retries, budgets (exposed for tests and status pages). */
  readonly router: Router;
  /** Per-model endpoint state fed by the watcher. */
  readonly clusters: Clusters;
  /** The discovery watch; its view survives discovery going away. */
  readonly watcher: DiscoveryWatcher;
  private readonly core: RoutingCore;

  constructor(opts: ProxylessOptions) {
    this.core = new RoutingCore({
      discovery: opts.discovery,
      watcherId: opts.watcherId ?? `client-${process.pid}`,
      models: opts.models,
      zone: opts.zone ?? '',
      channelsPerEndpoint: opts.channelsPerEndpoint ?? 1,
      log: opts.log ?? silentLogger,
      clock: opts.clock ?? systemClock,
      random: opts.random ?? systemRandom,
      metrics: opts.metrics,
    });
    this.router = this.core.router;
    this.clusters = this.core.clusters;
    // Given a discovery address the core always watches; the check only satisfies the type.
    if (!this.core.watcher) throw new Error('proxyless transport: the routing core has no discovery watch');
    this.watcher = this.core.watcher;
  }

  /** Version of the routing config in force (0: none, the built-in policy). */
  get routingConfigVersion(): number {
    return this.core.configVersion;
  }

  /** Addresses of the sidecars currently known for model. */
  endpoints(model: string): string[] {
    return this.core.endpoints(model);
  }

  /** See Transport.send: the router picks, retries and applies the deadline. */
  send(call: RouteCall, done: (o: RouteOutcome) => void): CancelFn {
    return this.router.infer(call, done);
  }

  /** True when the model has a candidate endpoint now (as the balancer's ServerReady judges). */
  ready(model: string, version: string): Promise<boolean> {
    return Promise.resolve(this.core.hasCandidate(model, version));
  }

  /** Stops watching and closes every sidecar connection. */
  close(): void {
    this.core.close();
  }
}
