// `infergate sidecar`: serve a model repository beside a GPU.
import * as os from 'node:os';
import * as path from 'node:path';
import { createLogger } from '../common/log';
import { nonNegative, port, type CommandSpec, type FlagSpec, text, type FlagValues } from '../common/flags';
import { Registrar } from '../discovery/client/registrar';
import { startSidecar, type Sidecar } from '../sidecar/sidecar';
import { runUntilSignal } from './signals';

export const sidecarSpec = {
  name: 'sidecar',
  summary: 'Serve the models in a model repository over the Open Inference Protocol (gRPC and REST) with dynamic batching.',
  flags: {
    models: {
      name: 'models',
      arg: 'DIR',
      help: 'Model repository: <name>/config.yaml and <name>/<version>/model.onnx.',
      default: 'models',
      parse: text,
    } as FlagSpec<string>,
    host: { name: 'host', arg: 'ADDR', help: 'Address to bind every port on.', default: '0.0.0.0', parse: text } as FlagSpec<string>,
    grpcPort: {
      name: 'grpc-port',
      arg: 'PORT',
      help: 'gRPC port (inference.GRPCInferenceService).',
      default: 8001,
      parse: port,
    } as FlagSpec<number>,
    httpPort: { name: 'http-port', arg: 'PORT', help: 'HTTP/REST port (/v2/...).', default: 8000, parse: port } as FlagSpec<number>,
    metricsPort: {
      name: 'metrics-port',
      arg: 'PORT',
      help: 'Prometheus metrics port (/metrics).',
      default: 8002,
      parse: port,
    } as FlagSpec<number>,
    faultDelayMs: {
      name: 'fault-delay-ms',
      arg: 'N',
      help: 'Fault injection: delay every request N ms before queueing.',
      default: 0,
      parse: nonNegative,
    } as FlagSpec<number>,
    faultAbortPercent: {
      name: 'fault-abort-percent',
      arg: 'P',
      help: 'Fault injection: fail P% of requests with UNAVAILABLE before queueing.',
      default: 0,
      parse: (raw: string) => {
        const n = nonNegative(raw);
        if (n > 100) throw new Error(`'${raw}' is over 100; expected a percentage 0-100`);
        return n;
      },
    } as FlagSpec<number>,
    faultAdmin: {
      name: 'fault-admin',
      help: 'Serve GET/PUT /fault on the metrics port to change the fault settings live (benchmarks, drills); off: /fault is 404.',
      default: false,
    } as FlagSpec<boolean>,
    discovery: {
      name: 'discovery',
      arg: 'HOST:PORT[,...]',
      help: 'Register with the discovery service(s) and keep the lease alive; empty = do not register.',
      default: '',
      parse: text,
    } as FlagSpec<string>,
    advertise: {
      name: 'advertise',
      arg: 'HOST:PORT',
      help: 'Address balancers should dial for this sidecar (default: <hostname>:<grpc-port>).',
      default: '',
      parse: text,
    } as FlagSpec<string>,
    zone: {
      name: 'zone',
      arg: 'Z',
      help: 'Zone (failure domain) reported to discovery, for zone-affine routing.',
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

type Flags = FlagValues<typeof sidecarSpec.flags>;

/** Runs a sidecar until SIGINT/SIGTERM, then drains and exits 0. */
export async function runSidecarCommand(f: Flags): Promise<void> {
  const log = createLogger('sidecar');
  const sidecar = await startSidecar({
    modelsDir: path.resolve(f.models),
    host: f.host,
    grpcPort: f.grpcPort,
    httpPort: f.httpPort,
    metricsPort: f.metricsPort,
    fault: { delayMs: f.faultDelayMs, abortPercent: f.faultAbortPercent },
    faultAdmin: f.faultAdmin,
    drainTimeoutMs: f.drainTimeoutMs,
    log,
  });
  const registrar = f.discovery ? registrarFor(sidecar, f, log) : undefined;
  registrar?.start();
  await runUntilSignal(log, async () => {
    // Announce DRAINING first so balancers stop sending, then finish in-flight work.
    await registrar?.drain();
    await sidecar.close();
    await registrar?.stop();
  });
}

function registrarFor(sidecar: Sidecar, f: Flags, log: ReturnType<typeof createLogger>): Registrar {
  return new Registrar({
    discovery: f.discovery,
    advertise: f.advertise || `${os.hostname()}:${sidecar.grpcPort}`,
    zone: f.zone,
    models: sidecar.registry.list().map((m) => ({ name: m.config.name, versions: [...m.versionNames] })),
    load: () => sidecar.load.snapshot(),
    health: () => (sidecar.registry.allReady() ? 'HEALTHY' : 'UNHEALTHY'),
    log,
  });
}
