// `infergate demo` (what `npm start` runs): everything on loopback with the
// bundled models, and a request to paste. Until the balancer lands this is
// one sidecar; the balancer issue extends it to discovery + sidecars + balancer.
import * as path from 'node:path';
import { createLogger } from '../common/log';
import { port, type CommandSpec, type FlagSpec, text, type FlagValues } from '../common/flags';
import { startSidecar } from '../sidecar/sidecar';
import { runUntilSignal } from './signals';

/** The repository's bundled models, from src or dist. */
export const BUNDLED_MODELS = path.resolve(__dirname, __dirname.includes(`${path.sep}dist${path.sep}`) ? '../../models' : '../models');

export const demoSpec = {
  name: 'demo',
  summary: 'Start a sidecar on the bundled models on loopback and print a request to try (what npm start runs).',
  flags: {
    models: { name: 'models', arg: 'DIR', help: 'Model repository.', default: BUNDLED_MODELS, parse: text } as FlagSpec<string>,
    grpcPort: { name: 'grpc-port', arg: 'PORT', help: 'gRPC port.', default: 8001, parse: port } as FlagSpec<number>,
    httpPort: { name: 'http-port', arg: 'PORT', help: 'HTTP/REST port.', default: 8000, parse: port } as FlagSpec<number>,
    metricsPort: { name: 'metrics-port', arg: 'PORT', help: 'Metrics port.', default: 8002, parse: port } as FlagSpec<number>,
  },
} satisfies CommandSpec<Record<string, FlagSpec<unknown>>>;

type Flags = FlagValues<typeof demoSpec.flags>;

/** Runs the demo until Ctrl-C. */
export async function runDemoCommand(f: Flags): Promise<void> {
  const log = createLogger('demo');
  const sidecar = await startSidecar({
    modelsDir: path.resolve(f.models), host: '127.0.0.1',
    grpcPort: f.grpcPort, httpPort: f.httpPort, metricsPort: f.metricsPort, log,
  });
  const body = JSON.stringify({
    inputs: [
      { name: 'user_id', shape: [1], datatype: 'INT64', data: [42] },
      { name: 'candidate_ids', shape: [6], datatype: 'INT64', data: [101, 102, 103, 104, 105, 106] },
    ],
  });
  process.stdout.write(
    `\ninfergate demo is up: gRPC 127.0.0.1:${sidecar.grpcPort}, REST 127.0.0.1:${sidecar.httpPort}, metrics 127.0.0.1:${sidecar.metricsPort}/metrics\n` +
      `Try:\n  curl -s 127.0.0.1:${sidecar.httpPort}/v2/models/recommend/infer -d '${body}'\n` +
      `Ctrl-C stops it.\n\n`,
  );
  await runUntilSignal(log, () => sidecar.close());
}
