// Wires the balancer: a discovery watcher feeding per-model clusters, the
// routing config pushed through the same watch stream, the router and the
// gRPC server. Nothing waits for discovery: until it answers, calls fail
// with UNAVAILABLE naming the model.
import type * as http from 'node:http';
import { systemClock, systemRandom, type Clock, type Random } from '../common/clock';
import type { Logger } from '../common/log';
import type { RoutingConfig } from '../routing-config/types';
import { decodePushedConfig } from '../routing-config/parse';
import type { RoutingConfigSource } from '../routing-config/source';
import { DiscoveryWatcher } from '../discovery/client/watcher';
import { listenHttp } from '../sidecar/server/rest';
import { Clusters } from './routing/cluster';
import { BalancerMetrics } from './metrics/metrics';
import { opsHandler } from './front/ops-http';
import { Router } from './routing/router';
import { Front } from './front/grpc-front';
import { isReady } from './front/service-info';
import { balancerRestHandler } from './front/rest';
import { collectStatus, type BalancerStatus } from './front/status';
import { UpstreamPools } from './upstream/pool';

/** Options for startBalancer. */
export interface BalancerOptions {
  /** Discovery address(es): host:port[,host:port...]. */
  readonly discovery: string;
  /** Address to bind on. */
  readonly host: string;
  /** gRPC port; 0 picks a free one. */
  readonly grpcPort: number;
  /** REST port (the Open Inference Protocol over HTTP); 0 (the default) picks a free one. */
  readonly httpPort?: number;
  /**
   * Operations HTTP port (/metrics, /status, /healthz, /readyz); 0 (the default) picks a free one;
   * false opens none (a --workers child: the primary serves it for all workers).
   */
  readonly metricsPort?: number | false;
  /**
   * A routing config of the balancer's own (--config): when given it is the one in force and
   * discovery's pushed config is ignored; the source's own reloads apply live.
   */
  readonly config?: RoutingConfigSource;
  /** This balancer's zone, for zone affinity ('' = none). */
  readonly zone: string;
  readonly log: Logger;
  readonly clock?: Clock;
  readonly random?: Random;
  /** Connections kept per sidecar (default 2). */
  readonly channelsPerEndpoint?: number;
  /** How long close() lets in-flight calls finish before cutting them (default 30 s). */
  readonly drainTimeoutMs?: number;
}

/** A running balancer. */
export interface Balancer {
  /** The bound gRPC port. */
  readonly grpcPort: number;
  /** The bound REST port. */
  readonly httpPort: number;
  /** The bound operations HTTP port (0 when none was opened). */
  readonly metricsPort: number;
  /** The metrics registry (the --workers primary aggregates the workers'). */
  readonly metrics: BalancerMetrics;
  /** The /status document now. */
  status(): BalancerStatus;
  /** ServerReady's answer now. */
  ready(): boolean;
  /** Addresses of the endpoints currently known for a model. */
  endpoints(model: string): string[];
  /** Retry attempts made since start. */
  readonly retries: number;
  /** Version of the routing config in force (0: none, the built-in policy). */
  readonly configVersion: number;
  /** Stops accepting calls, lets in-flight ones finish, then closes upstream connections. */
  close(): Promise<void>;
}

/** Starts the balancer; resolves once the gRPC port is bound. */
export async function startBalancer(opts: BalancerOptions): Promise<Balancer> {
  const clock = opts.clock ?? systemClock;
  const random = opts.random ?? systemRandom;
  const log = opts.log;
  const metrics = new BalancerMetrics();
  const clusters = new Clusters(new UpstreamPools(opts.channelsPerEndpoint ?? 2, clock), opts.zone, clock, log, metrics);
  const router = new Router(clusters, clock, random, metrics);
  const watcher = new DiscoveryWatcher({ discovery: opts.discovery, watcherId: `balancer-${process.pid}`, log, clock, random });
  let configVersion = 0;
  const applyConfig = (config: RoutingConfig | undefined, version: number): void => {
    log.info('routing config applied', { version, source: opts.config ? 'file' : 'discovery' });
    clusters.setConfig(config);
    router.setConfig(config);
    configVersion = version;
  };
  let unsubscribeConfig: (() => void) | undefined;
  if (opts.config) {
    applyConfig(opts.config.current().config, opts.config.current().version);
    unsubscribeConfig = opts.config.onChange((s) => applyConfig(s.config, s.version));
  }
  watcher.onConfig((c) => {
    if (opts.config) return; // the local file wins; discovery's config is not merged with it
    const pushed = decodePushedConfig(c, log);
    if (pushed) applyConfig(pushed.config, c.version);
  });
  watcher.onUpdate((u) => clusters.apply(u.changes));
  watcher.start();
  metrics.watch({ clusters, configVersion: () => configVersion });

  const ready = (): boolean => isReady(clusters, clock.now());
  const status = (): BalancerStatus => collectStatus(clusters, router.budgets(), configVersion, ready(), clock.now());
  const front = new Front({ router, clusters, clock });
  let grpcPort: number;
  let ops: http.Server | undefined;
  let rest: http.Server | undefined;
  try {
    grpcPort = await front.listen(opts.host, opts.grpcPort);
    rest = await listenHttp(balancerRestHandler({ router, clusters, clock }), opts.host, opts.httpPort ?? 0);
    if (opts.metricsPort !== false) ops = await listenHttp(opsHandler({ metrics, ready, status }), opts.host, opts.metricsPort ?? 0);
  } catch (e) {
    front.forceClose();
    rest?.close();
    ops?.close();
    unsubscribeConfig?.();
    watcher.stop();
    clusters.close();
    throw e;
  }
  const metricsPort = ops ? boundPort(ops) : 0;
  const httpPort = boundPort(rest);
  log.info('balancer listening', { grpcPort, httpPort, metricsPort, discovery: opts.discovery, zone: opts.zone });

  return {
    grpcPort,
    httpPort,
    metricsPort,
    metrics,
    status,
    ready,
    get retries() {
      return router.retriesTotal;
    },
    get configVersion() {
      return configVersion;
    },
    endpoints: (model) => [...(clusters.get(model)?.members.values() ?? [])].map((m) => m.raw.address),
    close: async () => {
      // REST stops accepting with gRPC; requests already read still finish (server.close waits for them).
      const restClosed = new Promise<void>((resolve) => rest.close(() => resolve()));
      rest.closeIdleConnections();
      await front.close(opts.drainTimeoutMs ?? 30_000);
      rest.closeAllConnections();
      await restClosed;
      // The ops port stays up while calls drain, so probes and scrapes see the drain.
      if (ops) {
        ops.closeAllConnections();
        await new Promise<void>((resolve) => ops!.close(() => resolve()));
      }
      unsubscribeConfig?.();
      watcher.stop();
      clusters.close();
    },
  };
}

/** The port a listening HTTP server is bound to. */
function boundPort(s: http.Server): number {
  const a = s.address();
  return typeof a === 'object' && a ? a.port : 0;
}
