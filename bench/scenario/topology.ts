// Starts what a scenario's topology asks for, on loopback, and stops it all:
// discovery, N sidecars (each with its own fault flags), one or more
// balancers (--workers N), and the peers nginx and HAProxy through
// bench/lib/peers.ts when their binaries are installed. peers.ts's
// startFleet and startInfergate cover neither --fault-abort-percent nor
// --workers (a --workers primary's /status lists workers, not clusters), so
// the infergate side is started here; the peers are reused as they are.
import { spawnSync } from 'node:child_process';
import { BUNDLED_MODELS } from '../../models/bundled';
import { freePort, sidecarArgs, waitReady } from '../../testkit/processes';
import { sidecarServed, startHaproxy, startNginx, stopAll, type SidecarProc } from '../lib/peers';
import { spawnInfergate, stopInfergates, treeCpuSeconds } from './own-processes';
import type { PeerName, TopologySpec } from './scenario-config';

/** Something a phase can send load to. */
export interface RunningTarget {
  /** Canonical name (infergate:N, nginx, haproxy, sidecar:N). */
  readonly name: string;
  /** host:port for gRPC (unary, stream). */
  readonly grpc: string;
  /** host:port for REST, when the target serves it. */
  readonly http?: string;
  /** User+system CPU seconds of the target's processes so far. */
  cpuSeconds(): number;
}

/** A started topology. */
export interface RunningTopology {
  /** Targets by canonical name. */
  readonly targets: ReadonlyMap<string, RunningTarget>;
  readonly sidecars: readonly SidecarProc[];
  /** What was started and what was skipped, for the report. */
  readonly notes: readonly string[];
  /** Calls each sidecar has finished so far (all statuses), in sidecar order. */
  served(): Promise<number[]>;
  /** CPU seconds of every sidecar so far, summed. */
  sidecarsCpuSeconds(): number;
}

/** True when `cmd -v` runs, i.e. the binary is on PATH. */
export function hasBinary(cmd: string): boolean {
  return spawnSync(cmd, ['-v'], { stdio: 'ignore' }).error === undefined;
}

const get = async <T>(url: string): Promise<T> => (await fetch(url)).json() as Promise<T>;

interface StatusDoc {
  clusters?: { model: string; endpoints: unknown[] }[];
  workers?: { clusters: { model: string; endpoints: unknown[] }[] }[];
}

/** Starts a balancer and waits until every worker lists every sidecar for each model (or times out). */
async function startBalancer(
  index: number,
  workers: number,
  discoveryPort: number,
  sidecars: number,
  models: readonly string[],
  verbose: boolean,
): Promise<RunningTarget> {
  const [g, h, m] = [await freePort(), await freePort(), await freePort()];
  const child = spawnInfergate(
    [
      'balancer',
      '--host',
      '127.0.0.1',
      '--discovery',
      `127.0.0.1:${discoveryPort}`,
      '--grpc-port',
      String(g),
      '--http-port',
      String(h),
      '--metrics-port',
      String(m),
      '--workers',
      String(workers),
      '--drain-timeout-ms',
      '1000',
    ],
    verbose,
  );
  await waitReady(`http://127.0.0.1:${m}/readyz`, 60_000);
  // /readyz holds once each model has one endpoint; a phase measured before the rest arrive would skew to it.
  const until = Date.now() + 30_000;
  for (;;) {
    const st = await get<StatusDoc>(`http://127.0.0.1:${m}/status`);
    const views = st.workers?.map((w) => w.clusters) ?? [st.clusters ?? []];
    const full =
      views.length >= workers &&
      views.every((cs) => models.every((md) => (cs.find((c) => c.model === md)?.endpoints.length ?? 0) >= sidecars));
    if (full) break;
    if (Date.now() > until)
      throw new Error(`balancer ${index} (--workers ${workers}) did not list ${sidecars} endpoints for ${models.join(', ')} within 30 s`);
    await new Promise((r) => setTimeout(r, 100));
  }
  return { name: `infergate:${index}`, grpc: `127.0.0.1:${g}`, http: `127.0.0.1:${h}`, cpuSeconds: () => treeCpuSeconds(child.pid!) };
}

/**
 * Starts the topology; models are the ones the phases call (balancers wait for all of them).
 * On failure part-way, whatever started is stopped before the error propagates.
 */
export async function startTopology(spec: TopologySpec, models: readonly string[], verbose = false): Promise<RunningTopology> {
  const notes: string[] = [];
  const targets = new Map<string, RunningTarget>();
  try {
    const [dg, dh] = [await freePort(), await freePort()];
    spawnInfergate(['discovery', '--host', '127.0.0.1', '--grpc-port', String(dg), '--http-port', String(dh)], verbose);
    await waitReady(`http://127.0.0.1:${dh}/healthz`);
    const sidecars: SidecarProc[] = [];
    const ready: string[] = [];
    for (const [i, s] of spec.sidecars.entries()) {
      const [g, h, m] = [await freePort(), await freePort(), await freePort()];
      const faults = [
        ...(s.faultDelayMs > 0 ? ['--fault-delay-ms', String(s.faultDelayMs)] : []),
        ...(s.faultAbortPercent > 0 ? ['--fault-abort-percent', String(s.faultAbortPercent)] : []),
      ];
      const child = spawnInfergate(
        sidecarArgs(BUNDLED_MODELS, { grpc: g, http: h, metrics: m }, dg, ['--drain-timeout-ms', '1000', ...faults]),
        verbose,
      );
      sidecars.push({ child, grpcPort: g, metricsPort: m, faultDelayMs: s.faultDelayMs });
      targets.set(`sidecar:${i}`, {
        name: `sidecar:${i}`,
        grpc: `127.0.0.1:${g}`,
        http: `127.0.0.1:${h}`,
        cpuSeconds: () => treeCpuSeconds(child.pid!),
      });
      ready.push(`http://127.0.0.1:${h}/v2/health/ready`);
    }
    // Started together, waited for together: model loading overlaps.
    await Promise.all(ready.map((url) => waitReady(url, 60_000)));
    notes.push(
      `topology: discovery, ${sidecars.length} sidecar${sidecars.length === 1 ? '' : 's'} (${spec.sidecars.map(describeSidecar).join(', ')})`,
    );
    for (const [i, b] of spec.balancers.entries()) {
      targets.set(`infergate:${i}`, await startBalancer(i, b.workers, dg, sidecars.length, models, verbose));
      notes.push(`infergate${spec.balancers.length > 1 ? `:${i}` : ''}: the balancer on its defaults, --workers ${b.workers}`);
    }
    for (const peer of spec.peers) {
      if (!hasBinary(peer)) {
        notes.push(`${peer}: skipped, binary not found on PATH; its phases were not run`);
        continue;
      }
      const start: Record<PeerName, (ports: number[], verbose: boolean) => ReturnType<typeof startNginx>> = {
        nginx: startNginx,
        haproxy: startHaproxy,
      };
      const t = await start[peer](
        sidecars.map((s) => s.grpcPort),
        verbose,
      );
      targets.set(peer, { name: peer, grpc: `127.0.0.1:${t.port}`, cpuSeconds: () => t.cpuSeconds() });
      notes.push(
        peer === 'nginx'
          ? 'nginx: one worker, grpc_pass, upstream `random two least_conn`, keepalive 512 (bench/lib/peers.ts)'
          : 'haproxy: nbthread 1, h2 both sides, `balance random(2)` (bench/lib/peers.ts)',
      );
    }
    return {
      targets,
      sidecars,
      notes,
      served: () => Promise.all(sidecars.map(async (s) => Object.values(await sidecarServed(s)).reduce((a, b) => a + b, 0))),
      sidecarsCpuSeconds: () => sidecars.reduce((a, s) => a + treeCpuSeconds(s.child.pid!), 0),
    };
  } catch (e) {
    await stopTopology();
    throw e;
  }
}

function describeSidecar(s: { faultDelayMs: number; faultAbortPercent: number }): string {
  const f = [
    s.faultDelayMs > 0 && `--fault-delay-ms ${s.faultDelayMs}`,
    s.faultAbortPercent > 0 && `--fault-abort-percent ${s.faultAbortPercent}`,
  ].filter(Boolean);
  return f.length ? f.join(' ') : 'healthy';
}

/** Stops everything any topology started, all at once (SIGTERM, SIGKILL after 5 s): the load is over, so order does not matter. */
export async function stopTopology(): Promise<void> {
  await Promise.all([stopInfergates(), stopAll()]);
}
