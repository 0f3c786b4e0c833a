// The routing core: a discovery watcher feeding per-model clusters (endpoint
// state, outlier ejection, load reports, upstream connections), the routing
// config in force (discovery's pushed one, or a local source that wins over
// it), and the router over them. Written once and used twice: the balancer
// (balancer.ts) puts its servers in front of it, and the proxyless client
// (client/transport-proxyless.ts) calls its router in process. Nothing waits
// for discovery: until it answers, calls fail with UNAVAILABLE naming the
// model, and while it is unreachable the watcher keeps its last view.
//
// client/ imports balancer/ through this module only: what the client needs
// of the balancer is re-exported at the bottom, so the balancer's layout
// stays its own.
import type { Clock, Random } from '../common/clock';
import type { Logger } from '../common/log';
import type { RoutingConfig } from '../routing-config/types';
import { decodePushedConfig } from '../routing-config/parse';
import type { RoutingConfigSource } from '../routing-config/source';
import { DiscoveryWatcher } from '../discovery/client/watcher';
import type { BalancerMetrics } from './metrics/metrics';
import { Clusters } from './routing/cluster';
import { Router } from './routing/router';
import { UpstreamPools } from './upstream/pool';

/** How to build a routing core. */
export interface RoutingCoreOptions {
  /** Discovery address(es): host:port[,host:port...]. */
  readonly discovery: string;
  /** Name shown on discovery's admin page. */
  readonly watcherId: string;
  /** Models to watch (default: all). */
  readonly models?: readonly string[];
  /** This process's zone, for zone affinity ('' = none). */
  readonly zone: string;
  /** Connections kept per sidecar. */
  readonly channelsPerEndpoint: number;
  /**
   * A routing config of one's own: when given it is the one in force and discovery's pushed
   * config is ignored; the source's own reloads apply live.
   */
  readonly config?: RoutingConfigSource;
  readonly log: Logger;
  /** Time for every deadline, timer and estimate of the core. */
  readonly clock: Clock;
  /** Random source for picks and splits. */
  readonly random: Random;
  /** Metrics to record into (default: none). */
  readonly metrics?: BalancerMetrics;
}

/** Discovery's view, the routing config and the router over them; watching starts at construction. */
export class RoutingCore {
  /** Per-model endpoint state fed by the watcher. */
  readonly clusters: Clusters;
  /** Picks, retries, budgets. */
  readonly router: Router;
  /** The discovery watch; its view survives discovery going away. */
  readonly watcher: DiscoveryWatcher;
  private version = 0;
  private readonly unsubscribeConfig: (() => void) | undefined;

  constructor(private readonly opts: RoutingCoreOptions) {
    const { log, clock, random, metrics } = opts;
    this.clusters = new Clusters(new UpstreamPools(opts.channelsPerEndpoint, clock), opts.zone, clock, log, metrics);
    this.router = new Router(this.clusters, clock, random, metrics);
    this.watcher = new DiscoveryWatcher({
      discovery: opts.discovery,
      clusters: opts.models,
      watcherId: opts.watcherId,
      log,
      clock,
      random,
    });
    const local = opts.config;
    if (local) {
      this.apply(local.current().config, local.current().version);
      this.unsubscribeConfig = local.onChange((s) => this.apply(s.config, s.version));
    }
    this.watcher.onConfig((c) => {
      if (local) return; // the local config wins; discovery's is not merged with it
      const pushed = decodePushedConfig(c, log);
      if (pushed) this.apply(pushed.config, c.version);
    });
    this.watcher.onUpdate((u) => this.clusters.apply(u.changes));
    this.watcher.start();
  }

  /** Version of the routing config in force (0: none, the built-in policy). */
  get configVersion(): number {
    return this.version;
  }

  /** Addresses of the endpoints currently known for model. */
  endpoints(model: string): string[] {
    return [...(this.clusters.get(model)?.members.values() ?? [])].map((m) => m.raw.address);
  }

  /** True when model (version '' = any) has a candidate endpoint now. */
  hasCandidate(model: string, version: string): boolean {
    const c = this.clusters.get(model);
    return !!c && c.snapshot.select({ version: version || undefined }, c.currentPolicy, this.opts.clock.now()).kind === 'ok';
  }

  /** Stops watching and closes every sidecar connection; calls in flight fail. */
  close(): void {
    this.unsubscribeConfig?.();
    this.watcher.stop();
    this.clusters.close();
  }

  private apply(config: RoutingConfig | undefined, version: number): void {
    this.opts.log.info('routing config applied', { version, source: this.opts.config ? 'file' : 'discovery' });
    this.clusters.setConfig(config);
    this.router.setConfig(config);
    this.version = version;
  }
}

// What client/ uses of the balancer (see the file comment).
export type { BalancerMetrics } from './metrics/metrics';
export type { Clusters } from './routing/cluster';
export type { RouteCall, RouteOutcome } from './routing/route-call';
export type { Router } from './routing/router';
export { streamKeyOf, UpstreamPool } from './upstream/pool';
export type { CancelFn } from './upstream/types';
