// `infergate sidecar`: serve a model repository beside a GPU.
import * as path from 'node:path';
import { createLogger } from '../common/log';
import { nonNegative, port, type CommandSpec, type FlagSpec } from '../common/flags';
import { startSidecar } from '../sidecar/sidecar';
import { runUntilSignal } from './signals';

const str = (raw: string) => raw;

export const sidecarSpec = {
  name: 'sidecar',
  summary: 'Serve the models in a model repository over the Open Inference Protocol (gRPC and REST) with dynamic batching.',
  flags: {
    models: { name: 'models', arg: 'DIR', help: 'Model repository: <name>/config.yaml and <name>/<version>/model.onnx.', default: 'models', parse: str } as FlagSpec<string>,
    host: { name: 'host', arg: 'ADDR', help: 'Address to bind every port on.', default: '0.0.0.0', parse: str } as FlagSpec<string>,
    grpcPort: { name: 'grpc-port', arg: 'PORT', help: 'gRPC port (inference.GRPCInferenceService).', default: 8001, parse: port } as FlagSpec<number>,
    httpPort: { name: 'http-port', arg: 'PORT', help: 'HTTP/REST port (/v2/...).', default: 8000, parse: port } as FlagSpec<number>,
    metricsPort: { name: 'metrics-port', arg: 'PORT', help: 'Prometheus metrics port (/metrics).', default: 8002, parse: port } as FlagSpec<number>,
    faultDelayMs: { name: 'fault-delay-ms', arg: 'N', help: 'Fault injection: delay every request N ms before queueing.', default: 0, parse: nonNegative } as FlagSpec<number>,
    faultAbortPercent: {
      name: 'fault-abort-percent', arg: 'P', help: 'Fault injection: fail P% of requests with UNAVAILABLE before queueing.', default: 0,
      parse: (raw: string) => {
        const n = nonNegative(raw);
        if (n > 100) throw new Error(`'${raw}' is over 100; expected a percentage 0-100`);
        return n;
      },
    } as FlagSpec<number>,
    drainTimeoutMs: { name: 'drain-timeout-ms', arg: 'MS', help: 'On SIGTERM, how long to let in-flight calls finish before cutting them.', default: 30000, parse: nonNegative } as FlagSpec<number>,
  },
} satisfies CommandSpec<Record<string, FlagSpec<unknown>>>;

type Flags = { [K in keyof typeof sidecarSpec.flags]: (typeof sidecarSpec.flags)[K]['default'] };

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
    drainTimeoutMs: f.drainTimeoutMs,
    log,
  });
  await runUntilSignal(log, () => sidecar.close());
}
