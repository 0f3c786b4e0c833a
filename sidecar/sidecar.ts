// One sidecar process: load the model repository, serve it over gRPC and
// REST, expose metrics, and drain cleanly. Used by the CLI, the demo and tests.
import type * as http from 'node:http';
import { systemClock, systemRandom, type Clock, type Random } from '../common/clock';
import type { Logger } from '../common/log';
import { FaultInjector, NO_FAULTS, type FaultConfig } from './server/fault';
import { InferService } from './server/infer-service';
import { LoadTracker } from '../protocol/load-report';
import { SidecarMetrics } from './metrics';
import { loadModels } from './repository/loader';
import type { ModelRegistry } from './repository/registry';
import { GrpcServer } from './server/grpc';
import { metricsHandler, restHandler } from './server/rest';
import { faultAdminHandler } from './server/fault-admin';
import { listenHttp } from '../protocol/rest';

/** What a sidecar needs to start. Ports may be 0 (pick a free one). */
export interface SidecarOptions {
  readonly modelsDir: string;
  readonly host: string;
  readonly grpcPort: number;
  readonly httpPort: number;
  readonly metricsPort: number;
  readonly fault?: FaultConfig;
  /** Serve GET/PUT /fault on the metrics port (--fault-admin); off, /fault answers 404. */
  readonly faultAdmin?: boolean;
  /** Longest close() waits for open calls and streams before cutting them (ms). */
  readonly drainTimeoutMs?: number;
  readonly log: Logger;
  readonly clock?: Clock;
  readonly random?: Random;
}

/** A running sidecar. */
export interface Sidecar {
  readonly grpcPort: number;
  readonly httpPort: number;
  readonly metricsPort: number;
  readonly registry: ModelRegistry;
  readonly metrics: SidecarMetrics;
  /** Live load (in-flight, queue depth, latency), as sent in load reports. */
  readonly load: LoadTracker;
  /** Stops accepting, lets in-flight work finish, frees models. */
  close(): Promise<void>;
}

/** Loads models and starts serving; rejects (with every repository error) if the models cannot load. */
export async function startSidecar(opts: SidecarOptions): Promise<Sidecar> {
  const clock = opts.clock ?? systemClock;
  const metrics = new SidecarMetrics();
  const loaded = await loadModels(opts.modelsDir, { clock, log: opts.log, metrics });
  const registry = loaded.registry;
  metrics.watch(registry);
  const load = new LoadTracker(clock, () => {
    let q = 0;
    for (const m of registry.list()) for (const v of m.versions.values()) q += v.scheduler.queueDepth();
    return q;
  });
  const fault = new FaultInjector(opts.fault ?? NO_FAULTS, opts.random ?? systemRandom);
  if (fault.active) opts.log.warn('fault injection is on', { ...fault.config });
  if (opts.faultAdmin) opts.log.warn('fault admin is on: anyone reaching the metrics port may change faults at /fault');
  const svc = new InferService(registry, clock, metrics, load, fault);

  const grpcServer = new GrpcServer(svc, load, clock);
  let httpServer: http.Server | undefined;
  let metricsServer: http.Server | undefined;
  try {
    const grpcPort = await grpcServer.listen(opts.host, opts.grpcPort);
    httpServer = await listenHttp(restHandler(svc), opts.host, opts.httpPort);
    const admin = faultAdminHandler(fault, opts.faultAdmin ?? false, opts.log);
    metricsServer = await listenHttp(metricsHandler(metrics, admin), opts.host, opts.metricsPort);
    const portOf = (s: http.Server) => (s.address() as { port: number }).port;
    const sidecar: Sidecar = {
      grpcPort,
      httpPort: portOf(httpServer),
      metricsPort: portOf(metricsServer),
      registry,
      metrics,
      load,
      close: () => closeAll(grpcServer, httpServer!, metricsServer!, svc, loaded.close, opts.drainTimeoutMs ?? 30_000, clock),
    };
    opts.log.info('sidecar serving', {
      grpc_port: sidecar.grpcPort,
      http_port: sidecar.httpPort,
      metrics_port: sidecar.metricsPort,
      models: registry.list().map((m) => `${m.config.name}:${m.versionNames.join(',')}`),
    });
    return sidecar;
  } catch (e) {
    grpcServer.forceClose();
    httpServer?.close();
    metricsServer?.close();
    await loaded.close();
    throw e;
  }
}

async function closeAll(
  grpcServer: GrpcServer,
  httpServer: http.Server,
  metricsServer: http.Server,
  svc: InferService,
  freeModels: () => Promise<void>,
  drainTimeoutMs: number,
  clock: Clock,
): Promise<void> {
  // Stop taking new calls first (GOAWAY); calls in flight finish.
  const grpcDone = grpcServer.close();
  const httpDone = new Promise<void>((resolve) => httpServer.close(() => resolve()));
  httpServer.closeIdleConnections();
  // A client may hold a ModelStreamInfer stream open indefinitely: cut
  // whatever is still open once the grace period ends.
  const cut = clock.setTimeout(() => {
    grpcServer.forceClose();
    httpServer.closeAllConnections();
  }, drainTimeoutMs);
  // The grace period alone must not keep the process alive.
  clock.unref(cut);
  await svc.drain();
  await Promise.all([grpcDone, httpDone]);
  clock.clearTimeout(cut);
  await new Promise<void>((resolve) => metricsServer.close(() => resolve()));
  metricsServer.closeAllConnections();
  await freeModels();
}
