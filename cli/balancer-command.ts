// `infergate balancer`: the entry point services call; spreads inference
// calls over the sidecars discovery lists, or, without --discovery, over the
// static endpoints its --config file lists (existing Triton or KServe
// servers that register nowhere). With --workers N > 1 this process becomes
// a primary that forks N balancer workers sharing the ports.
import cluster from 'node:cluster';
import { createLogger } from '../common/log';
import { nonNegative, port, positiveInt, UsageError, type CommandSpec, type FlagSpec, text, type FlagValues } from '../common/flags';
import { startBalancer } from '../balancer/balancer';
import { runPrimary, serveWorkerIpc } from '../balancer/worker-pool';
import { openRoutingConfigSource } from '../routing-config/source';
import { requestStop, runUntilSignal } from './signals';

export const balancerSpec = {
  name: 'balancer',
  summary:
    'Balance Open Inference Protocol gRPC and REST calls over the sidecars discovery lists, or the static endpoints of --config (power of two choices, retries).',
  flags: {
    host: { name: 'host', arg: 'ADDR', help: 'Address to bind on.', default: '0.0.0.0', parse: text } as FlagSpec<string>,
    grpcPort: {
      name: 'grpc-port',
      arg: 'PORT',
      help: 'gRPC port (inference.GRPCInferenceService).',
      default: 8001,
      parse: port,
    } as FlagSpec<number>,
    httpPort: {
      name: 'http-port',
      arg: 'PORT',
      help: 'HTTP/REST port (Open Inference Protocol over HTTP).',
      default: 8000,
      parse: port,
    } as FlagSpec<number>,
    metricsPort: {
      name: 'metrics-port',
      arg: 'PORT',
      help: 'HTTP port for /metrics, /status, /healthz and /readyz.',
      default: 8002,
      parse: port,
    } as FlagSpec<number>,
    discovery: {
      name: 'discovery',
      arg: 'HOST:PORT[,...]',
      help: 'Discovery service address(es) to watch; may be left out when --config lists endpoints: (static endpoints only).',
      default: '',
      parse: text,
    } as FlagSpec<string>,
    config: {
      name: 'config',
      arg: 'FILE',
      help: "A routing config of this balancer's own (reloaded on change and SIGHUP); when set, discovery's pushed config is ignored.",
      default: '',
      parse: text,
    } as FlagSpec<string>,
    workers: {
      name: 'workers',
      arg: 'N',
      help: 'Balancer processes sharing the ports (one per core uses every core); the primary serves --metrics-port for all.',
      default: 1,
      parse: positiveInt,
    } as FlagSpec<number>,
    zone: {
      name: 'zone',
      arg: 'Z',
      help: "This balancer's zone, for zone-affine routing; empty = none.",
      default: '',
      parse: text,
    } as FlagSpec<string>,
    drainTimeoutMs: {
      name: 'drain-timeout-ms',
      arg: 'MS',
      help: 'On SIGTERM, how long to let in-flight calls finish before cutting them.',
      default: 30000,
      parse: nonNegative,
    } as FlagSpec<number>,
  },
} satisfies CommandSpec<Record<string, FlagSpec<unknown>>>;

type Flags = FlagValues<typeof balancerSpec.flags>;

/** Runs a balancer (or a pool of them) until SIGINT/SIGTERM, then finishes in-flight calls and exits 0. */
export async function runBalancerCommand(f: Flags): Promise<void> {
  if (!f.discovery && !f.config)
    throw new UsageError(
      "--discovery HOST:PORT or --config FILE listing endpoints: is required (the balancer needs discovery or static endpoints to route to)\nRun 'infergate balancer --help' for the flags.",
    );
  const log = createLogger('balancer');
  if (f.workers > 1 && cluster.isPrimary) {
    // Workers re-run this command line (cluster forks process.argv) and take the branch below.
    process.exitCode = await runPrimary({ workers: f.workers, host: f.host, metricsPort: f.metricsPort, log });
    return;
  }
  const inPool = cluster.isWorker;
  // Without discovery the file must list endpoints, and every route must name a model they serve: checked on every reload.
  const config = f.config ? await openRoutingConfigSource({ file: f.config, log, parse: { withoutDiscovery: !f.discovery } }) : undefined;
  const balancer = await startBalancer({
    discovery: f.discovery,
    host: f.host,
    grpcPort: f.grpcPort,
    httpPort: f.httpPort,
    metricsPort: inPool ? false : f.metricsPort,
    config,
    zone: f.zone,
    drainTimeoutMs: f.drainTimeoutMs,
    log,
  }).catch((e: unknown) => {
    config?.close();
    throw e;
  });
  if (inPool) serveWorkerIpc(balancer, () => requestStop('the primary asked'));
  await runUntilSignal(log, async () => {
    await balancer.close();
    config?.close();
  });
  // A worker's IPC channel keeps its event loop alive; leave once drained.
  if (inPool) process.disconnect();
}
