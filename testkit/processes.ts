// Child processes for benchmarks and tests: start a component with the
// built CLI, wait until it is ready, read its CPU time, stop it.
import { spawn, type ChildProcess } from 'node:child_process';
import { readFileSync } from 'node:fs';
import * as net from 'node:net';
import * as path from 'node:path';

/** The built CLI entry point. */
export const CLI = path.resolve(__dirname, '../cli/main.js');

/** A free TCP port on loopback (the OS picks; a tiny race is acceptable for tests). */
/**
 * A port to hand a child process, below Linux's ephemeral range (32768-60999): a port the
 * kernel picked for `listen(0)` could be given to the next `listen(0)` (in-process servers,
 * client sockets) before the child binds it, which once failed a sidecar with EADDRINUSE.
 * Ports come from a shuffled walk of 20000-32767, each handed out once per process, and are
 * checked free by binding them.
 */
export async function freePort(): Promise<number> {
  for (let tries = 0; tries < 200; tries++) {
    const port = PORT_LOW + ((nextPort++ * PORT_STRIDE + portOffset) % PORT_SPAN);
    if (await canBind(port)) return port;
  }
  throw new Error(`no free port found in ${PORT_LOW}-${PORT_LOW + PORT_SPAN - 1}`);
}

const PORT_LOW = 20000;
const PORT_SPAN = 12768;
/** Coprime with PORT_SPAN, so the walk visits every port once before repeating. */
const PORT_STRIDE = 7919;
/** Where this process starts its walk: processes running at once rarely overlap. */
const portOffset = (process.pid * 7907) % PORT_SPAN;
let nextPort = 0;

function canBind(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const s = net.createServer();
    s.once('error', () => resolve(false));
    s.listen(port, '127.0.0.1', () => s.close(() => resolve(true)));
  });
}

/** Starts `infergate <args>`; output goes to the parent's stderr when verbose. */
export function startCli(args: string[], verbose = false): ChildProcess {
  return spawn(process.execPath, [CLI, ...args], {
    stdio: ['ignore', verbose ? 'inherit' : 'ignore', 'inherit'],
    env: { ...process.env, INFERGATE_LOG_LEVEL: verbose ? 'info' : 'warn' },
  });
}

/** Polls an HTTP URL until it answers 200, or rejects after timeoutMs. */
export async function waitReady(url: string, timeoutMs = 30_000): Promise<void> {
  const until = Date.now() + timeoutMs;
  for (;;) {
    try {
      const res = await fetch(url);
      if (res.status === 200) return;
    } catch {
      // not listening yet
    }
    if (Date.now() > until) throw new Error(`${url} not ready after ${timeoutMs} ms`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

/** User+system CPU seconds a process has used so far (Linux /proc). */
export function cpuSeconds(pid: number): number {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  // utime and stime are fields 14 and 15 of stat; 12 and 13 after the comm field.
  return (Number(fields[11]) + Number(fields[12])) / 100;
}

/** Sends SIGTERM and resolves with the exit code (SIGKILL after graceMs). */
export function stop(child: ChildProcess, graceMs = 10_000): Promise<number | null> {
  // A child killed by a signal has exitCode null and signalCode set: it has exited too, and 'exit' will not come again.
  if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve(child.exitCode);
  return new Promise((resolve) => {
    const t = setTimeout(() => child.kill('SIGKILL'), graceMs);
    child.once('exit', (code) => {
      clearTimeout(t);
      resolve(code);
    });
    child.kill('SIGTERM');
  });
}

/** Loopback ports of one sidecar started through the CLI. */
export interface SidecarPorts {
  readonly grpc: number;
  readonly http: number;
  readonly metrics: number;
}

/**
 * `infergate sidecar` arguments for a loopback sidecar serving models on ports and registering with the
 * discovery service on discoveryPort, advertising its gRPC port; extra flags (zone, drain timeout, faults) follow.
 * discoveryPort undefined: a standalone sidecar that registers nowhere, as a plain Triton server is.
 */
export function sidecarArgs(
  models: string,
  ports: SidecarPorts,
  discoveryPort: number | undefined,
  extra: readonly string[] = [],
): string[] {
  return [
    'sidecar',
    ...['--models', models, '--host', '127.0.0.1'],
    ...['--grpc-port', String(ports.grpc), '--http-port', String(ports.http), '--metrics-port', String(ports.metrics)],
    ...(discoveryPort === undefined ? [] : ['--discovery', `127.0.0.1:${discoveryPort}`, '--advertise', `127.0.0.1:${ports.grpc}`]),
    ...extra,
  ];
}
