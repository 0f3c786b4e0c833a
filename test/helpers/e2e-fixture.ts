// Shared pieces of the balancer's end-to-end tests: sidecars as real CLI
// processes registering with a test discovery, their request counts read
// from /metrics, and a routing config source the test rewrites (standing in
// for discovery's file watcher).
import type { ChildProcess } from 'node:child_process';
import { cpSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { parseRoutingConfig } from '../../routing-config/parse';
import type { ConfigSource, RoutingConfigVersion } from '../../discovery/types';
import { freePort, sidecarArgs, startCli, stop } from '../../testkit/processes';
import { startBalancer, type Balancer } from '../../balancer/balancer';
import { silentLogger } from '../../common/log';
import type { DiscoveryServer } from '../../discovery/server/server';
import { startTestDiscovery, waitFor } from './discovery-fixture';
import { independentClient, MODELS, type InferenceClient } from './sidecar-fixture';

/** A sidecar CLI process. */
export interface SidecarProc {
  readonly child: ChildProcess;
  /** Its advertised gRPC address. */
  readonly address: string;
  readonly metricsPort: number;
}

/** Starts `infergate sidecar` on free ports, registering with discovery at discoveryPort in zone (default 'a'). */
export async function sidecarProcess(discoveryPort: number, extra: string[] = [], zone = 'a'): Promise<SidecarProc> {
  const [g, h, m] = [await freePort(), await freePort(), await freePort()];
  const child = startCli(
    sidecarArgs(MODELS, { grpc: g, http: h, metrics: m }, discoveryPort, ['--zone', zone, '--drain-timeout-ms', '1000', ...extra]),
  );
  return { child, address: `127.0.0.1:${g}`, metricsPort: m };
}

/** A temp model repository holding the bundled ranker under the name `model` alone; remove() deletes it. */
export function rankerRepoAs(model: string): { readonly dir: string; remove(): void } {
  const dir = mkdtempSync(path.join(tmpdir(), `infergate-${model}-`));
  cpSync(path.join(MODELS, 'ranker'), path.join(dir, model), { recursive: true });
  return { dir, remove: () => rmSync(dir, { recursive: true, force: true }) };
}

/**
 * Starts `infergate sidecar` on free ports serving the repository at `models`, registering with discovery at
 * discoveryPort, or, when that is undefined, nowhere (standalone, as a Triton server runs).
 */
export async function repoSidecar(models: string, discoveryPort: number | undefined): Promise<SidecarProc> {
  const [g, h, m] = [await freePort(), await freePort(), await freePort()];
  const child = startCli(sidecarArgs(models, { grpc: g, http: h, metrics: m }, discoveryPort, ['--drain-timeout-ms', '1000']));
  return { child, address: `127.0.0.1:${g}`, metricsPort: m };
}

/**
 * A test discovery (1 s leases) serving config, and one sidecar process per zone registering with it;
 * sidecars are pushed into `into` as they start, so an after() hook stops them even if a later one fails.
 */
export async function startDiscoveryAndSidecars(
  config: ConfigSource,
  zones: readonly string[],
  into: SidecarProc[],
): Promise<DiscoveryServer> {
  const discovery = await startTestDiscovery({ leaseTtlMs: 1000, config });
  for (const zone of zones) into.push(await sidecarProcess(discovery.grpcPort, [], zone));
  return discovery;
}

/** A test discovery, its sidecar processes, a balancer (zone a) watching it, and a client of the balancer. */
export interface BalancerFleet {
  readonly discovery: DiscoveryServer;
  readonly balancer: Balancer;
  readonly client: InferenceClient;
}

/**
 * Starts a BalancerFleet with one sidecar per zone (pushed into `into`, see startDiscoveryAndSidecars) and
 * resolves once the balancer lists every one for ranker; a timeout names the sidecars' exit codes.
 */
export async function startBalancerFleet(config: ConfigSource, zones: readonly string[], into: SidecarProc[]): Promise<BalancerFleet> {
  const f: { discovery?: DiscoveryServer; balancer?: Balancer; client?: InferenceClient } = {};
  try {
    const discovery = (f.discovery = await startDiscoveryAndSidecars(config, zones, into));
    const balancer = (f.balancer = await startBalancer({
      discovery: `127.0.0.1:${discovery.grpcPort}`,
      host: '127.0.0.1',
      grpcPort: 0,
      zone: 'a',
      log: silentLogger,
    }));
    const client = (f.client = independentClient(balancer.grpcPort));
    await waitFor(() => balancer.endpoints('ranker').length === zones.length, `${zones.length} sidecars in the balancer`, 30_000).catch(
      (e: Error) => {
        // Say which sidecars died (their stderr is inherited) and which registered.
        throw new Error(
          `${e.message}; sidecar exit codes ${into.map((s) => s.child.exitCode).join(', ')}; known: ${balancer.endpoints('ranker').join(', ')}`,
        );
      },
    );
    return { discovery, balancer, client };
  } catch (e) {
    // The suite's after() only sees the sidecars: stop the rest here.
    await stopBalancerFleet(f, []);
    throw e;
  }
}

/** Stops what startBalancerFleet started (any part may be missing when start-up failed). */
export async function stopBalancerFleet(f: Partial<BalancerFleet>, sidecars: readonly SidecarProc[]): Promise<void> {
  f.client?.close();
  await f.balancer?.close();
  await Promise.all(sidecars.map((s) => stop(s.child, 3000)));
  await f.discovery?.close();
}

/** Inference requests the sidecar finished, by status, from its /metrics. */
export async function served(s: SidecarProc): Promise<Record<string, number>> {
  const text = await (await fetch(`http://127.0.0.1:${s.metricsPort}/metrics`)).text();
  const out: Record<string, number> = {};
  for (const m of text.matchAll(/^infergate_sidecar_requests_total\{[^}]*status="([A-Z_]+)"[^}]*\} (\d+)$/gm))
    out[m[1]] = (out[m[1]] ?? 0) + Number(m[2]);
  return out;
}

/** A routing config source the test rewrites. */
export class TestConfig implements ConfigSource {
  private v: RoutingConfigVersion | undefined;
  private readonly cbs = new Set<(c: RoutingConfigVersion) => void>();

  /** The version in force. */
  current(): RoutingConfigVersion | undefined {
    return this.v;
  }

  /** Calls cb with every new version. */
  onChange(cb: (c: RoutingConfigVersion) => void): () => void {
    this.cbs.add(cb);
    return () => this.cbs.delete(cb);
  }

  /** Validates yaml and publishes it as the next version; returns that version. */
  set(yaml: string): number {
    this.v = { version: (this.v?.version ?? 0) + 1, json: JSON.stringify(parseRoutingConfig(yaml, 'test.yaml')) };
    for (const cb of this.cbs) cb(this.v);
    return this.v.version;
  }
}
