// `infergate balancer --workers N`: N balancer processes sharing the gRPC and
// REST ports through node:cluster, so the balancer uses every core (one
// Node process tops out near one core: ~18K grpc-js calls/s, reference.md).
// The primary does no proxying. It:
// - forks the workers and forks a replacement when one dies unasked, giving
//   up (exit 1) when they crash-loop;
// - serves the operations port for all of them: /metrics aggregated over the
//   workers with prom-client's AggregatorRegistry (counters summed; gauges
//   as each declares), /status as every worker's document, /readyz ready
//   only when every worker is;
// - on SIGTERM/SIGINT asks each worker to drain over IPC (not by signal: a
//   terminal's Ctrl-C already signals the whole process group, and a second
//   signal means "exit now"), waits for them, and exits 0 when all did.
import cluster, { type Worker } from 'node:cluster';
import type * as http from 'node:http';
import { AggregatorRegistry } from 'prom-client';
import { systemClock, type Clock } from '../common/clock';
import type { Logger } from '../common/log';
import { listenHttp } from '../protocol/rest';
import type { Balancer } from './balancer';
import { opsHandlerFor } from './front/ops-http';
import type { BalancerStatus } from './front/status';

const ASK = 'infergate:ask';
const ANSWER = 'infergate:answer';
const DRAIN = 'infergate:drain';
/** How long the primary waits for a worker's IPC answer. */
const ASK_TIMEOUT_MS = 2000;
/** More unasked exits than this within CRASH_WINDOW_MS: the primary gives up. */
const MAX_CRASHES = 5;
const CRASH_WINDOW_MS = 30_000;

type Question = 'status' | 'ready';
interface AskMessage {
  readonly type: typeof ASK;
  readonly id: number;
  readonly question: Question;
}
interface AnswerMessage {
  readonly type: typeof ANSWER;
  readonly id: number;
  readonly value: unknown;
}

/** A worker's /status document, tagged with its pid. */
export interface WorkerStatus extends BalancerStatus {
  readonly pid: number;
}

/** Options of runPrimary. */
export interface PrimaryOptions {
  readonly workers: number;
  readonly host: string;
  /** The operations port the primary serves for all workers. */
  readonly metricsPort: number;
  readonly log: Logger;
  /** Time for the crash window and the workers' answer timeout (default: the process clock). */
  readonly clock?: Clock;
}

/** Worker side: answers the primary's questions and drains when asked. Call once in each worker. */
export function serveWorkerIpc(balancer: Balancer, drain: () => void): void {
  AggregatorRegistry.setRegistries([balancer.metrics.registry]);
  new AggregatorRegistry(); // installs prom-client's worker-side metrics listener
  process.on('message', (m: unknown) => {
    const msg = m as { type?: string };
    if (msg.type === DRAIN) return drain();
    if (msg.type !== ASK) return;
    const q = m as AskMessage;
    const value = q.question === 'status' ? { pid: process.pid, ...balancer.status() } : balancer.ready();
    process.send?.({ type: ANSWER, id: q.id, value } satisfies AnswerMessage);
  });
}

/** Primary side: runs the pool until a signal drains it; resolves with the exit code to use. */
export async function runPrimary(opts: PrimaryOptions): Promise<number> {
  const { log } = opts;
  const clock = opts.clock ?? systemClock;
  const aggregator = new AggregatorRegistry();
  const pending = new Map<number, { left: number; values: unknown[]; done: (v: unknown[]) => void }>();
  let nextId = 0;
  let stopping = false;
  let failed = false;
  const crashes: number[] = [];

  cluster.on('message', (_w, m: unknown) => {
    const a = m as AnswerMessage;
    if (a.type !== ANSWER) return;
    const p = pending.get(a.id);
    if (!p) return;
    p.values.push(a.value);
    if (--p.left === 0) {
      pending.delete(a.id);
      p.done(p.values);
    }
  });
  /** Every live worker's answer (those that answer within the timeout). */
  const ask = (question: Question): Promise<unknown[]> =>
    new Promise((resolve) => {
      const live = Object.values(cluster.workers ?? {}).filter((w): w is Worker => !!w && w.isConnected());
      if (live.length === 0) return resolve([]);
      const id = nextId++;
      const values: unknown[] = [];
      const timer = clock.setTimeout(() => {
        pending.delete(id);
        resolve(values);
      }, ASK_TIMEOUT_MS);
      const p = { left: live.length, values, done: (v: unknown[]) => (clock.clearTimeout(timer), resolve(v)) };
      pending.set(id, p);
      // A worker killed a moment ago can still look connected: its send fails with EPIPE, which
      // without a callback is an 'error' event that would take the primary down. It just does not answer.
      const unanswered = (err: Error | null): void => {
        if (!err || !pending.has(id) || --p.left > 0) return;
        pending.delete(id);
        p.done(p.values);
      };
      for (const w of live) w.send({ type: ASK, id, question } satisfies AskMessage, undefined, unanswered);
    });

  const fork = (): void => {
    // IPC errors of a dying worker are reported by its 'exit'; an unheard 'error' would end the primary.
    cluster.fork().on('error', (e: Error) => log.warn('balancer worker IPC error', { error: e.message }));
  };
  cluster.on('exit', (w, code, signal) => {
    if (stopping) return;
    const now = clock.now();
    crashes.push(now);
    while (crashes.length && crashes[0] < now - CRASH_WINDOW_MS) crashes.shift();
    if (crashes.length > MAX_CRASHES) {
      log.error('balancer workers keep exiting; stopping', { crashes: crashes.length, window_ms: CRASH_WINDOW_MS });
      failed = true;
      void stop();
      return;
    }
    log.warn('balancer worker exited; starting another', { pid: w.process.pid, code, signal });
    fork();
  });

  let ops: http.Server | undefined;
  let resolveDone: (code: number) => void = () => undefined;
  const done = new Promise<number>((r) => (resolveDone = r));
  const stop = async (): Promise<void> => {
    if (stopping) return;
    stopping = true;
    const workers = Object.values(cluster.workers ?? {}).filter((w): w is Worker => !!w);
    const codes = await Promise.all(
      workers.map(
        (w) =>
          new Promise<number>((resolve) => {
            if (w.isDead()) return resolve(w.process.exitCode ?? 1);
            w.once('exit', (code) => resolve(code ?? 1));
            if (w.isConnected()) w.send({ type: DRAIN });
            else w.kill('SIGTERM');
          }),
      ),
    );
    ops?.closeAllConnections();
    await new Promise<void>((resolve) => (ops ? ops.close(() => resolve()) : resolve()));
    resolveDone(failed || codes.some((c) => c !== 0) ? 1 : 0);
  };
  let signals = 0;
  const onSignal = (sig: NodeJS.Signals): void => {
    if (++signals > 1) {
      log.warn('second signal: stopping workers without waiting', { signal: sig });
      for (const w of Object.values(cluster.workers ?? {})) w?.process.kill('SIGKILL');
      process.exit(1);
    }
    log.info('draining workers', { signal: sig });
    void stop();
  };
  process.on('SIGTERM', onSignal);
  process.on('SIGINT', onSignal);

  for (let i = 0; i < opts.workers; i++) fork();
  ops = await listenHttp(
    opsHandlerFor({
      metricsText: () => aggregator.clusterMetrics(),
      contentType: aggregator.contentType,
      status: async () => ({ workers: (await ask('status')) as WorkerStatus[] }),
      ready: async () => {
        const answers = await ask('ready');
        return answers.length === opts.workers && answers.every((r) => r === true);
      },
    }),
    opts.host,
    opts.metricsPort,
  );
  log.info('balancer primary serving the operations port', { workers: opts.workers, metricsPort: opts.metricsPort });
  return done;
}
