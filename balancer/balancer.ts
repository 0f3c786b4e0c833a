// Wires the balancer: the routing core (core.ts: discovery's view, the
// routing config, the router) with the servers in front of it, gRPC, REST
// and the operations port. Nothing waits for discovery: until it answers,
// calls fail with UNAVAILABLE naming the model. Without discovery, the
// static endpoints of its own routing config are the whole view.
import type * as http from 'node:http';
import { systemClock, systemRandom, type Clock, type Random } from '../common/clock';
import type { Logger } from '../common/log';
import type { RoutingConfigSource } from '../routing-config/source';
import { listenHttp } from '../protocol/rest';
import { RoutingCore } from './core';
import { BalancerMetrics } from './metrics/metrics';
import { opsHandler } from './front/ops-http';
import { Front } from './front/grpc-front';
import { isReady, logReadinessFlips } from './front/service-info';
import { balancerRestHandler } from './front/rest';
import { collectStatus, type BalancerStatus } from './front/status';

/** Options for startBalancer. */
export interface BalancerOptions {
  /** Discovery address(es): host:port[,host:port...]; '' or absent: none, `config` must list static endpoints. */
  readonly discovery?: string;
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
  /** How long a model whose last endpoint left answers UNAVAILABLE before it is forgotten (NOT_FOUND); default 5 min. */
  readonly forgetModelAfterMs?: number;
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
  const core = new RoutingCore({
    discovery: opts.discovery,
    watcherId: `balancer-${process.pid}`,
    zone: opts.zone,
    channelsPerEndpoint: opts.channelsPerEndpoint ?? 2,
    config: opts.config,
    log,
    clock,
    random,
    metrics,
    forgetModelAfterMs: opts.forgetModelAfterMs,
  });
  const { clusters, router } = core;
  metrics.watch({ clusters, configVersion: () => core.configVersion });
  const stopReadinessLog = logReadinessFlips(clusters, log);

  const ready = (): boolean => isReady(clusters);
  const status = (): BalancerStatus => collectStatus(clusters, router.budgets(), core.configVersion, ready(), clock.now());
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
    stopReadinessLog();
    core.close();
    throw e;
  }
  const metricsPort = ops ? boundPort(ops) : 0;
  const httpPort = boundPort(rest);
  const staticEndpoints = opts.config?.current().config.endpoints.length ?? 0;
  log.info('balancer listening', { grpcPort, httpPort, metricsPort, discovery: opts.discovery ?? '', staticEndpoints, zone: opts.zone });

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
      return core.configVersion;
    },
    endpoints: (model) => core.endpoints(model),
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
      stopReadinessLog();
      core.close();
    },
  };
}

/** The port a listening HTTP server is bound to. */
function boundPort(s: http.Server): number {
  const a = s.address();
  return typeof a === 'object' && a ? a.port : 0;
}
