// The proxies a balancer benchmark compares, as child processes on loopback:
// infergate's own fleet (discovery, sidecars, the balancer, through the
// built CLI) and the peers nginx and HAProxy with generated configs in a
// temp dir (no root, no system service). Every proxy runs one event loop
// (nginx: one worker; HAProxy: nbthread 1), as the Node balancer does, so
// CPU per request compares like with like.
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import * as net from 'node:net';
import * as os from 'node:os';
import * as path from 'node:path';
import { BUNDLED_MODELS } from '../../models/bundled';
import { cpuSeconds, freePort, sidecarArgs, startCli, stop, waitReady } from '../../testkit/processes';

/** A proxy under test: where to send calls and how much CPU it has used. */
export interface Target {
  readonly name: string;
  readonly port: number;
  /** User+system CPU seconds of the proxy's processes so far. */
  cpuSeconds(): number;
  /** The operations port (/metrics, /status), where the target has one (infergate). */
  readonly metricsPort?: number;
}

/** Upstreams a peer lists from the start though they may not be up yet: a sidecar that joins mid-run. */
export interface PeerOptions {
  /**
   * These are added to the upstream list so that the peer routes around them while they are down
   * and starts using them once they answer, the nearest a static peer config comes to discovery:
   * nginx takes a refused connection as a failure (max_fails=1, fail_timeout=1s), passes the call to
   * the next server and tries the joiner again after 1 s; HAProxy checks them every 250 ms (TCP
   * connect, fall 1 rise 1) and redispatches a refused connection to another server.
   */
  readonly joining?: readonly number[];
}

/** One sidecar process of the fleet. */
export interface SidecarProc {
  readonly child: ChildProcess;
  readonly grpcPort: number;
  readonly metricsPort: number;
  readonly faultDelayMs: number;
}

// Every child started here, so an error anywhere still stops them all.
const live = new Set<ChildProcess>();
process.on('exit', () => {
  for (const c of live) if (c.exitCode === null && c.signalCode === null) killTree(c);
});
// Ctrl-C or a kill would otherwise end this process without 'exit' handlers, leaving detached peers running.
for (const sig of ['SIGINT', 'SIGTERM'] as const) process.once(sig, () => process.exit(130));

// Children spawned detached, each leading its own process group.
const leaders = new WeakSet<ChildProcess>();

function track(c: ChildProcess, detached = false): ChildProcess {
  live.add(c);
  if (detached) leaders.add(c);
  c.once('exit', () => live.delete(c));
  return c;
}

/** SIGKILL to a detached child's process group (nginx's worker goes with its master), else to the child. */
function killTree(c: ChildProcess): void {
  try {
    if (leaders.has(c) && c.pid !== undefined) process.kill(-c.pid, 'SIGKILL');
    else c.kill('SIGKILL');
  } catch {
    // already gone
  }
}

/** Stops every process started through this module: SIGTERM, then SIGKILL to the group after graceMs. */
export async function stopAll(graceMs = 5000): Promise<void> {
  await Promise.all(
    [...live].map(async (c) => {
      await stop(c, graceMs);
      // A master that died by SIGKILL leaves its workers; the group kill reaches them.
      if (leaders.has(c)) killTree(c);
    }),
  );
}

/** A process and its direct children's CPU seconds (nginx's master and worker). */
function treeCpu(pid: number): number {
  let total = cpuSeconds(pid);
  try {
    for (const kid of readFileSync(`/proc/${pid}/task/${pid}/children`, 'utf8').split(' ').filter(Boolean))
      total += cpuSeconds(Number(kid));
  } catch {
    // no children list (kernel without it, or the process just exited): its own time is what there is
  }
  return total;
}

/** CPU seconds used so far by this process, its reaped children (h2load) and every live process started here. */
export function ownCpuSeconds(): number {
  const f = readFileSync('/proc/self/stat', 'utf8').split(') ')[1].split(' ');
  // utime, stime, cutime, cstime: fields 14-17 of stat, 12-15 after the comm field.
  let total = (Number(f[11]) + Number(f[12]) + Number(f[13]) + Number(f[14])) / 100;
  for (const c of live) {
    try {
      if (c.pid !== undefined && c.exitCode === null) total += treeCpu(c.pid);
    } catch {
      // exited between the check and the read; its time moves to cutime once reaped
    }
  }
  return total;
}

/** Busy CPU seconds of the whole machine so far, all cores (/proc/stat user+nice+system+irq+softirq). */
export function machineBusySeconds(): number {
  const v = readFileSync('/proc/stat', 'utf8').split('\n')[0].trim().split(/\s+/).slice(1).map(Number);
  return (v[0] + v[1] + v[2] + v[5] + v[6]) / 100;
}

/** Starts measuring what else runs on the machine: cores() is other processes' average busy cores since the call. */
export function otherLoad(): { cores(): number } {
  const t0 = performance.now();
  const m0 = machineBusySeconds();
  const o0 = ownCpuSeconds();
  return { cores: () => Math.max(0, machineBusySeconds() - m0 - (ownCpuSeconds() - o0)) / ((performance.now() - t0) / 1000) };
}

/** Resolves when something accepts TCP connections on 127.0.0.1:port; rejects at once if `child` exits first. */
export async function waitPort(port: number, child: ChildProcess, timeoutMs = 10_000): Promise<void> {
  const until = Date.now() + timeoutMs;
  for (;;) {
    if (child.exitCode !== null || child.signalCode !== null)
      throw new Error(`${child.spawnfile} exited (${child.exitCode ?? child.signalCode}) before listening on ${port}`);
    const ok = await new Promise<boolean>((resolve) => {
      const s = net.connect(port, '127.0.0.1', () => (s.destroy(), resolve(true)));
      s.once('error', () => resolve(false));
    });
    if (ok) return;
    if (Date.now() > until) throw new Error(`nothing listening on 127.0.0.1:${port} after ${timeoutMs} ms`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

/** Discovery and one sidecar per entry of faultDelays (0 = healthy), all registered and ready. */
export async function startFleet(faultDelays: number[], verbose = false): Promise<{ discoveryPort: number; sidecars: SidecarProc[] }> {
  const [dg, dh] = [await freePort(), await freePort()];
  track(startCli(['discovery', '--host', '127.0.0.1', '--grpc-port', String(dg), '--http-port', String(dh)], verbose));
  await waitReady(`http://127.0.0.1:${dh}/healthz`);
  const sidecars: SidecarProc[] = [];
  const ready: string[] = [];
  for (const delay of faultDelays) {
    const [g, h, m] = [await freePort(), await freePort(), await freePort()];
    const fault = delay > 0 ? ['--fault-delay-ms', String(delay)] : [];
    const child = track(
      startCli(sidecarArgs(BUNDLED_MODELS, { grpc: g, http: h, metrics: m }, dg, ['--drain-timeout-ms', '1000', ...fault]), verbose),
    );
    sidecars.push({ child, grpcPort: g, metricsPort: m, faultDelayMs: delay });
    ready.push(`http://127.0.0.1:${h}/v2/health/ready`);
  }
  // Started together, waited for together: model loading overlaps.
  await Promise.all(ready.map((url) => waitReady(url, 60_000)));
  return { discoveryPort: dg, sidecars };
}

/** Requests a sidecar has finished, by gRPC status, from its /metrics (infergate_sidecar_requests_total). */
export async function sidecarServed(s: SidecarProc): Promise<Record<string, number>> {
  const text = await (await fetch(`http://127.0.0.1:${s.metricsPort}/metrics`)).text();
  const out: Record<string, number> = {};
  for (const line of text.split('\n')) {
    const m = /^infergate_sidecar_requests_total\{[^}]*status="([A-Z_]+)"[^}]*\} (\d+)/.exec(line);
    if (m) out[m[1]] = (out[m[1]] ?? 0) + Number(m[2]);
  }
  return out;
}

/**
 * The infergate balancer as a CLI process, ready once it lists every sidecar for ranker; routingYaml:
 * its own routing config (--config), named `name` in results.
 */
export async function startInfergate(
  discoveryPort: number,
  sidecars: number,
  verbose = false,
  routingYaml?: string,
  name = 'infergate',
): Promise<Target> {
  const [g, h, m] = [await freePort(), await freePort(), await freePort()];
  const config: string[] = [];
  if (routingYaml !== undefined) {
    const file = path.join(tempDir(name), 'routing.yaml');
    writeFileSync(file, routingYaml);
    config.push('--config', file);
  }
  const child = track(
    startCli(
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
        '--drain-timeout-ms',
        '1000',
        ...config,
      ],
      verbose,
    ),
  );
  await waitReady(`http://127.0.0.1:${m}/readyz`);
  const until = Date.now() + 30_000;
  for (;;) {
    const st = (await (await fetch(`http://127.0.0.1:${m}/status`)).json()) as { clusters: { model: string; endpoints: unknown[] }[] };
    if ((st.clusters.find((c) => c.model === 'ranker')?.endpoints.length ?? 0) >= sidecars) break;
    if (Date.now() > until) throw new Error(`the balancer did not list ${sidecars} ranker endpoints within 30 s`);
    await new Promise((r) => setTimeout(r, 100));
  }
  return { name, port: g, metricsPort: m, cpuSeconds: () => cpuSeconds(child.pid!) };
}

/** Spawns a peer in its own process group (so a SIGKILL fallback reaches every process it forks). */
function spawnPeer(cmd: string, args: string[], verbose: boolean): ChildProcess {
  const child = track(spawn(cmd, args, { stdio: ['ignore', verbose ? 'inherit' : 'ignore', 'inherit'], detached: true }), true);
  child.once('error', (e) => process.stderr.write(`${cmd}: ${e.message}\n`));
  return child;
}

/** A temp dir removed at exit (peer configs, pid files, nginx's temp paths). */
export function tempDir(name: string): string {
  const dir = mkdtempSync(path.join(os.tmpdir(), `infergate-${name}-`));
  tempDirs.add(dir);
  return dir;
}

// One exit handler for them all: a benchmark that starts a peer per run (bench/skew-matrix/) makes
// dozens, and a listener each tripped Node's MaxListenersExceededWarning.
const tempDirs = new Set<string>();
process.on('exit', () => {
  for (const dir of tempDirs) rmSync(dir, { recursive: true, force: true });
});

/**
 * nginx 1.22: h2 listener, grpc_pass to an upstream picking `random two
 * least_conn`, idle upstream connections kept. nginx's gRPC proxy does not
 * multiplex upstream, so each request in flight holds one upstream connection;
 * the keepalive pool and keepalive_requests keep them from being reopened. opts.joining: servers
 * that may still be down (PeerOptions).
 */
export async function startNginx(upstreams: number[], verbose = false, opts: PeerOptions = {}): Promise<Target> {
  const dir = tempDir('nginx');
  const port = await freePort();
  const temp = ['client_body', 'proxy', 'fastcgi', 'uwsgi', 'scgi'].map((t) => `  ${t}_temp_path ${dir}/${t};`).join('\n');
  writeFileSync(
    path.join(dir, 'nginx.conf'),
    `worker_processes 1;
pid ${dir}/nginx.pid;
error_log ${dir}/error.log warn;
events { worker_connections 8192; }
http {
  access_log off;
${temp}
  keepalive_requests 1000000;
  keepalive_timeout 300s;
  # A gRPC stream is one request body: without this nginx cuts a stream after 1 MB of messages.
  client_max_body_size 0;
  upstream sidecars {
    random two least_conn;
${upstreams.map((p) => `    server 127.0.0.1:${p};`).join('\n')}
${(opts.joining ?? []).map((p) => `    server 127.0.0.1:${p} max_fails=1 fail_timeout=1s;`).join('\n')}
    keepalive 512;
    keepalive_requests 1000000;
    keepalive_timeout 300s;
  }
  server {
    listen 127.0.0.1:${port} http2;
    location / {
      grpc_pass grpc://sidecars;
      grpc_read_timeout 300s;
      grpc_send_timeout 300s;
    }
  }
}
`,
  );
  const child = spawnPeer('nginx', ['-p', dir, '-c', path.join(dir, 'nginx.conf'), '-g', 'daemon off;'], verbose);
  await waitPort(port, child);
  return { name: 'nginx', port, cpuSeconds: () => treeCpu(child.pid!) };
}

/**
 * HAProxy 2.6: h2 frontend, `balance random(2)`, h2 to every server (streams multiplexed on reused
 * connections); opts.joining: servers health-checked until they are up (PeerOptions).
 */
export async function startHaproxy(upstreams: number[], verbose = false, opts: PeerOptions = {}): Promise<Target> {
  const dir = tempDir('haproxy');
  const port = await freePort();
  writeFileSync(
    path.join(dir, 'haproxy.cfg'),
    `global
  nbthread 1
  maxconn 4000
defaults
  mode http
  timeout connect 2s
  timeout client 300s
  timeout server 300s
frontend fe
  bind 127.0.0.1:${port} proto h2
  default_backend sidecars
backend sidecars
  balance random(2)
${opts.joining?.length ? '  option redispatch\n  retries 3\n' : ''}${upstreams.map((p, i) => `  server s${i} 127.0.0.1:${p} proto h2`).join('\n')}
${(opts.joining ?? []).map((p, i) => `  server j${i} 127.0.0.1:${p} proto h2 check inter 250ms fall 1 rise 1`).join('\n')}
`,
  );
  // -db: stay in the foreground, one process, no master.
  const child = spawnPeer('haproxy', ['-db', '-f', path.join(dir, 'haproxy.cfg')], verbose);
  await waitPort(port, child);
  return { name: 'haproxy', port, cpuSeconds: () => cpuSeconds(child.pid!) };
}
