// The routing core: a discovery watcher feeding per-model clusters (endpoint
// state, outlier ejection, load reports, upstream connections), the routing
// config in force (discovery's pushed one, or a local source that wins over
// it), and the router over them. Written once and used twice: the balancer
// (balancer.ts) puts its servers in front of it, and the proxyless client
// (client/transport-proxyless.ts) calls its router in process. Nothing waits
// for discovery: until it answers, calls fail with UNAVAILABLE naming the
// model, and while it is unreachable the watcher keeps its last view.
//
// Discovery is optional when the local config lists static endpoints
// (`endpoints:`): a balancer can front existing Triton or KServe servers
// with no discovery process at all. Static endpoints join the clusters
// beside discovery's (routing/static-endpoints.ts) and follow the config's
// hot reloads; a config pushed by discovery needs no such step, since
// discovery already lays its static endpoints over the view it sends.
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
import { Clusters } from './routing/clusters';
import { Router } from './routing/router';
import { StaticEndpoints } from './routing/static-endpoints';
import { UpstreamPools } from './upstream/pool';

/** How to build a routing core. */
export interface RoutingCoreOptions {
  /** Discovery address(es): host:port[,host:port...]; absent or '': none, `config` must list static endpoints. */
  readonly discovery?: string;
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
  /** How long a model whose last endpoint left stays known (UNAVAILABLE, not NOT_FOUND); default FORGET_MODEL_AFTER_MS. */
  readonly forgetModelAfterMs?: number;
}

/** Discovery's view, the routing config and the router over them; watching starts at construction. */
export class RoutingCore {
  /** Per-model endpoint state fed by the watcher. */
  readonly clusters: Clusters;
  /** Picks, retries, budgets. */
  readonly router: Router;
  /** The discovery watch (absent without discovery); its view survives discovery going away. */
  readonly watcher: DiscoveryWatcher | undefined;
  private version = 0;
  private readonly unsubscribeConfig: (() => void) | undefined;
  private readonly statics = new StaticEndpoints();

  constructor(private readonly opts: RoutingCoreOptions) {
    const { log, clock, random, metrics } = opts;
    const local = opts.config;
    if (!opts.discovery && !local?.current().config.endpoints.length)
      throw new Error('a routing core needs a discovery address or a routing config listing static endpoints (endpoints:)');
    const pools = new UpstreamPools(opts.channelsPerEndpoint, clock);
    this.clusters = new Clusters(pools, opts.zone, clock, log, metrics, opts.forgetModelAfterMs);
    this.router = new Router(this.clusters, clock, random, metrics);
    if (local) {
      this.apply(local.current().config, local.current().version);
      this.unsubscribeConfig = local.onChange((s) => this.apply(s.config, s.version));
    }
    if (!opts.discovery) {
      this.watcher = undefined;
      return;
    }
    const watcher = (this.watcher = new DiscoveryWatcher({
      discovery: opts.discovery,
      clusters: opts.models,
      watcherId: opts.watcherId,
      log,
      clock,
      random,
    }));
    watcher.onConfig((c) => {
      if (local) return; // the local config wins; discovery's is not merged with it
      const pushed = decodePushedConfig(c, log);
      if (pushed) this.apply(pushed.config, c.version);
    });
    watcher.onUpdate((u) => this.clusters.apply(u.changes, 'discovery'));
    // The first message applied is discovery's whole view: from then on a model it does not list is unknown.
    watcher.onState((st) => {
      if (st === 'synced') this.clusters.markCurrent();
    });
    watcher.start();
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
    this.watcher?.stop();
    this.clusters.close();
  }

  private apply(config: RoutingConfig | undefined, version: number): void {
    const local = this.opts.config !== undefined;
    this.opts.log.info('routing config applied', { version, source: local ? 'file' : 'discovery' });
    this.clusters.setConfig(config);
    this.router.setConfig(config);
    this.version = version;
    if (!local) return;
    // After setConfig, so endpoints that join get the new overrides and policy.
    this.clusters.apply(this.statics.changes(config?.endpoints ?? []), 'config');
    if (this.statics.size > 0) this.clusters.markCurrent();
  }
}

// What client/ uses of the balancer (see the file comment).
export type { BalancerMetrics } from './metrics/metrics';
export type { Clusters } from './routing/clusters';
export type { RouteCall, RouteOutcome } from './routing/route-call';
export type { Router } from './routing/router';
export { streamKeyOf, UpstreamPool } from './upstream/pool';
export type { CancelFn } from './upstream/types';
