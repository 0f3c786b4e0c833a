// `infergate demo` (what `npm start` runs): the whole path on loopback with
// the bundled models: discovery, sidecars registering with it, and the
// balancer in front, all in this process so Ctrl-C stops everything. It
// prints a request to paste. The balancer takes Triton's ports (8000 REST,
// 8001 gRPC, 8002 metrics), so a Triton client pointed at the default port
// talks to the balancer; sidecars take free ports.
import * as path from 'node:path';
import { createLogger } from '../common/log';
import { port, positiveInt, type CommandSpec, type FlagSpec, text, type FlagValues } from '../common/flags';
import { startBalancer, type Balancer } from '../balancer/balancer';
import { Registrar } from '../discovery/client/registrar';
import { startDiscovery, type DiscoveryServer } from '../discovery/server/server';
import { startSidecar, type Sidecar } from '../sidecar/sidecar';
import { BUNDLED_MODELS } from '../models/bundled';
import { runUntilSignal } from './signals';

export const demoSpec = {
  name: 'demo',
  summary:
    'Start discovery, sidecars on the bundled models and the balancer on loopback, and print a request to try (what npm start runs).',
  flags: {
    models: { name: 'models', arg: 'DIR', help: 'Model repository.', default: BUNDLED_MODELS, parse: text } as FlagSpec<string>,
    sidecars: {
      name: 'sidecars',
      arg: 'N',
      help: 'Sidecars to start (each on free ports).',
      default: 2,
      parse: positiveInt,
    } as FlagSpec<number>,
    grpcPort: { name: 'grpc-port', arg: 'PORT', help: "The balancer's gRPC port.", default: 8001, parse: port } as FlagSpec<number>,
    httpPort: { name: 'http-port', arg: 'PORT', help: "The balancer's REST port.", default: 8000, parse: port } as FlagSpec<number>,
    metricsPort: {
      name: 'metrics-port',
      arg: 'PORT',
      help: "The balancer's /metrics and /status port.",
      default: 8002,
      parse: port,
    } as FlagSpec<number>,
    discoveryPort: {
      name: 'discovery-port',
      arg: 'PORT',
      help: "Discovery's gRPC port (its admin HTTP port is 0: free).",
      default: 50050,
      parse: port,
    } as FlagSpec<number>,
  },
} satisfies CommandSpec<Record<string, FlagSpec<unknown>>>;

type Flags = FlagValues<typeof demoSpec.flags>;

const HOST = '127.0.0.1';

/** Components log warnings and errors only, so the banner stays readable; INFERGATE_LOG_LEVEL overrides. */
const componentLog = (name: string) => createLogger(name, process.env.INFERGATE_LOG_LEVEL ?? 'warn');

/** The running pieces, stopped in reverse order of start. */
interface Demo {
  discovery?: DiscoveryServer;
  sidecars: Array<{ sidecar: Sidecar; registrar: Registrar }>;
  balancer?: Balancer;
}

/** Runs the demo until Ctrl-C. */
export async function runDemoCommand(f: Flags): Promise<void> {
  const log = createLogger('demo');
  const demo: Demo = { sidecars: [] };
  try {
    await start(demo, f);
  } catch (e) {
    await stopDemo(demo);
    throw e;
  }
  const b = demo.balancer!;
  const body = JSON.stringify({
    inputs: [
      { name: 'user_id', shape: [1], datatype: 'INT64', data: [42] },
      { name: 'candidate_ids', shape: [6], datatype: 'INT64', data: [101, 102, 103, 104, 105, 106] },
    ],
  });
  process.stdout.write(
    `\ninfergate demo is up: balancer gRPC ${HOST}:${b.grpcPort}, REST ${HOST}:${b.httpPort}, ` +
      `status http://${HOST}:${b.metricsPort}/status, ${demo.sidecars.length} sidecars, discovery ${HOST}:${demo.discovery!.grpcPort}\n` +
      `Try:\n  curl -s ${HOST}:${b.httpPort}/v2/models/recommend/infer -d '${body}'\n` +
      `Ctrl-C stops it.\n\n`,
  );
  await runUntilSignal(log, () => stopDemo(demo));
}

async function start(demo: Demo, f: Flags): Promise<void> {
  demo.discovery = await startDiscovery({ host: HOST, grpcPort: f.discoveryPort, httpPort: 0, log: componentLog('discovery') });
  const discovery = `${HOST}:${demo.discovery.grpcPort}`;
  for (let i = 0; i < f.sidecars; i++) {
    const slog = componentLog(`sidecar-${i + 1}`);
    const sidecar = await startSidecar({
      modelsDir: path.resolve(f.models),
      host: HOST,
      grpcPort: 0,
      httpPort: 0,
      metricsPort: 0,
      log: slog,
    });
    const registrar = new Registrar({
      discovery,
      advertise: `${HOST}:${sidecar.grpcPort}`,
      zone: 'demo',
      models: sidecar.registry.list().map((m) => ({ name: m.config.name, versions: [...m.versionNames] })),
      load: () => sidecar.load.snapshot(),
      health: () => (sidecar.registry.allReady() ? 'HEALTHY' : 'UNHEALTHY'),
      log: slog,
    });
    demo.sidecars.push({ sidecar, registrar });
    registrar.start();
  }
  demo.balancer = await startBalancer({
    discovery,
    host: HOST,
    grpcPort: f.grpcPort,
    httpPort: f.httpPort,
    metricsPort: f.metricsPort,
    zone: 'demo',
    log: componentLog('balancer'),
  });
  // Print the request only once the balancer can route it to every sidecar.
  const until = Date.now() + 30_000;
  while (demo.balancer.endpoints('recommend').length < f.sidecars) {
    if (Date.now() > until)
      throw new Error(`the balancer saw ${demo.balancer.endpoints('recommend').length} of ${f.sidecars} sidecars after 30 s`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

async function stopDemo(demo: Demo): Promise<void> {
  await demo.balancer?.close();
  await Promise.all(
    demo.sidecars.map(async ({ sidecar, registrar }) => {
      await registrar.drain();
      await sidecar.close();
      await registrar.stop();
    }),
  );
  await demo.discovery?.close();
}
