// Proxyless mode: the client watches discovery itself and picks sidecars
// directly, with no balancer hop (as Databricks' serving clients do). It is
// the balancer's routing core, not a copy of it: the same DiscoveryWatcher
// feeding the same Clusters (per-endpoint state, outlier ejection, load
// reports from the sidecars' trailers), and the same Router (version splits,
// objectives, shard subsets, P2C on in-flight + reported queue + peak EWMA,
// retries within a budget, deadlines), wired as startBalancer wires them
// (balancer/balancer.ts) minus the servers. Stream messages take the
// router's streamKey path: shared long-lived upstream streams per sidecar.
//
// Static stability carries over: the watcher keeps its last view while
// discovery is unreachable, and nothing on the call path waits on it.
import { systemClock, systemRandom, type Clock, type Random } from '../common/clock';
import { silentLogger, type Logger } from '../common/log';
import { decodePushedConfig } from '../routing-config/parse';
import { DiscoveryWatcher } from '../discovery/client/watcher';
import { Clusters } from '../balancer/routing/cluster';
import type { BalancerMetrics } from '../balancer/metrics/metrics';
import { Router } from '../balancer/routing/router';
import type { RouteCall, RouteOutcome } from '../balancer/routing/route-call';
import { UpstreamPools } from '../balancer/upstream/pool';
import type { CancelFn } from '../balancer/upstream/types';
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
  private readonly clock: Clock;
  private configVersion = 0;

  constructor(opts: ProxylessOptions) {
    const log = opts.log ?? silentLogger;
    this.clock = opts.clock ?? systemClock;
    const random = opts.random ?? systemRandom;
    this.clusters = new Clusters(new UpstreamPools(opts.channelsPerEndpoint ?? 1, this.clock), opts.zone ?? '', this.clock, log, opts.metrics);
    this.router = new Router(this.clusters, this.clock, random, opts.metrics);
    this.watcher = new DiscoveryWatcher({
      discovery: opts.discovery, clusters: opts.models, watcherId: opts.watcherId ?? `client-${process.pid}`, log, clock: this.clock, random,
    });
    this.watcher.onUpdate((u) => this.clusters.apply(u.changes));
    this.watcher.onConfig((c) => {
      const pushed = decodePushedConfig(c, log);
      if (!pushed) return;
      this.clusters.setConfig(pushed.config);
      this.router.setConfig(pushed.config);
      this.configVersion = c.version;
    });
    this.watcher.start();
  }

  /** Version of the routing config in force (0: none, the built-in policy). */
  get routingConfigVersion(): number {
    return this.configVersion;
  }

  /** Addresses of the sidecars currently known for model. */
  endpoints(model: string): string[] {
    return [...(this.clusters.get(model)?.members.values() ?? [])].map((m) => m.raw.address);
  }

  /** See Transport.send: the router picks, retries and applies the deadline. */
  send(call: RouteCall, done: (o: RouteOutcome) => void): CancelFn {
    return this.router.infer(call, done);
  }

  /** True when the model has a candidate endpoint now (as the balancer's ServerReady judges). */
  ready(model: string, version: string): Promise<boolean> {
    const c = this.clusters.get(model);
    return Promise.resolve(!!c && c.snapshot.select({ version: version || undefined }, c.currentPolicy, this.clock.now()).kind === 'ok');
  }

  /** Stops watching and closes every sidecar connection. */
  close(): void {
    this.watcher.stop();
    this.clusters.close();
  }
}
