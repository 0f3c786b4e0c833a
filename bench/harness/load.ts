// runLoad: one load phase against one target. The parent builds the request
// once, starts `workers` worker threads (worker.ts) that each own their
// connections and their share of the schedule, starts them together on the
// shared monotonic clock, and merges what they post: per-second buckets as
// they come (the live line), then histograms (exactly, histogram.ts), counts,
// errors and the generator's own lateness into one LoadResult.
import * as os from 'node:os';
import * as path from 'node:path';
import { Worker } from 'node:worker_threads';
import type * as hdr from 'hdr-histogram-js';
import { addEncoded, atPercentileMs, encodeHistogram, latencyMs, newHistogram, percentileCurve } from './histogram';
import { grpcRequest, restBody, restPath } from './payload';
import { share } from './schedule';
import type { LoadOptions, LoadResult, SeriesPoint } from './types';
import { hrMs, type DoneMessage, type SecondMessage, type WorkerConfig, type WorkerMessage } from './worker-protocol';

/**
 * The generator is limited (open loop) when more than this share of its sends went out later than the
 * tolerance below: then its own lateness, not the server, sets the reported tail...
 */
export const LATE_LIMIT = 0.01;
/**
 * ...the tolerance being 1 ms, or a tenth of the measured p99 when that is larger. A fixed 1 ms tripped on
 * OS scheduling jitter alone on this shared 2-core machine (0.3-1.5 % of sends > 1 ms late with no I/O at all,
 * 2026-12-01), which would flag every run against a real server whose p99 is tens of ms.
 */
export function lateToleranceMs(p99Ms: number): number {
  return Math.max(1, 0.1 * p99Ms);
}
/** ...or it sent less than this share of the offered rate... */
export const SEND_RATE_LIMIT = 0.98;
/** ...or (closed loop) a worker's event loop was busier than this: the callers waited on the generator. */
export const ELU_LIMIT = 0.9;
/** Error keys that are not answers from the server (excluded from achievedRate). */
const NOT_ANSWERS = new Set(['unfinished', 'inflight_limit', 'transport', 'timeout', 'stream_ended']);

/** One merged second. */
interface SecondAcc {
  reports: number;
  sent: number;
  ok: number;
  errors: number;
  readonly hist: hdr.Histogram;
}

function check(o: LoadOptions): void {
  const open = o.rate !== undefined;
  if (open === (o.concurrency !== undefined)) throw new Error('give exactly one of rate (open loop) and concurrency (closed loop)');
  if (open && !(o.rate! > 0)) throw new Error(`rate must be > 0, got ${o.rate}`);
  if (!open && !(Number.isInteger(o.concurrency) && o.concurrency! >= 1))
    throw new Error(`concurrency must be an integer >= 1, got ${o.concurrency}`);
  if (!(o.durationMs > 0) || !(o.warmupMs >= 0)) throw new Error('durationMs must be > 0 and warmupMs >= 0');
  if (!(Number.isInteger(o.workers) && o.workers >= 1) || !(Number.isInteger(o.connections) && o.connections >= 1)) {
    throw new Error('workers and connections must be integers >= 1');
  }
}

/** Runs one phase; resolves when every worker has finished (at most warm-up + duration + drain + 15 s). */
export async function runLoad(opts: LoadOptions): Promise<LoadResult> {
  check(opts);
  const W = opts.workers;
  const drainMs = opts.drainMs ?? 10_000;
  const label = opts.label ?? opts.target;
  const payload = opts.mode === 'rest' ? restBody(opts.payload) : grpcRequest(opts.model, opts.version, opts.payload);
  const configs: WorkerConfig[] = Array.from({ length: W }, (_, w) => ({
    worker: w,
    workers: W,
    mode: opts.mode,
    target: opts.target,
    restPath: restPath(opts.model, opts.version),
    payload,
    connections: opts.connections,
    rate: opts.rate,
    concurrency: opts.concurrency === undefined ? undefined : share(opts.concurrency, w, W),
    warmupMs: opts.warmupMs,
    durationMs: opts.durationMs,
    drainMs,
  }));
  const seconds: SecondAcc[] = Array.from({ length: Math.max(1, Math.ceil(opts.durationMs / 1000)) }, () => ({
    reports: 0,
    sent: 0,
    ok: 0,
    errors: 0,
    hist: newHistogram(),
  }));
  const dones: DoneMessage[] = [];
  let ticked = 0;
  const onSecond = (m: SecondMessage): void => {
    const acc = seconds[m.index];
    acc.reports++;
    acc.sent += m.sent;
    acc.ok += m.ok;
    acc.errors += m.errors;
    addEncoded(acc.hist, m.histogram);
    // Ticks go out in order, each once every worker has reported that second.
    while (ticked < seconds.length && seconds[ticked].reports >= W) {
      const p = point(ticked, seconds[ticked]);
      opts.onTick?.({ ...p, label, elapsedMs: Math.min(opts.durationMs, (ticked + 1) * 1000), totalMs: opts.durationMs });
      ticked++;
    }
  };

  const workers = configs.map((c) => new Worker(path.join(__dirname, 'worker.js'), { workerData: c }));
  const cpu0 = process.cpuUsage();
  let wall0 = performance.now();
  try {
    await new Promise<void>((resolve, reject) => {
      let ready = 0;
      const limit = setTimeout(
        () => reject(new Error(`load workers did not finish in time (${label})`)),
        opts.warmupMs + opts.durationMs + drainMs + 15_000,
      );
      const fail = (e: Error): void => {
        clearTimeout(limit);
        reject(e);
      };
      // A worker may exit as soon as it sent its own 'done', before the others finish.
      const finished = new Set<Worker>();
      for (const w of workers) {
        w.on('error', fail);
        w.on('exit', (code) => {
          if (!finished.has(w)) fail(new Error(`a load worker exited before reporting its totals (code ${code})`));
        });
        w.on('message', (m: WorkerMessage) => {
          if (m.type === 'ready' && ++ready === W) {
            // 50 ms for the start message to reach every thread before index 0 is due.
            const t0HrMs = hrMs() + 50;
            wall0 = performance.now() + 50;
            for (const x of workers) x.postMessage({ type: 'start', t0HrMs });
          } else if (m.type === 'second') onSecond(m);
          else if (m.type === 'fatal') fail(new Error(`load worker: ${m.message}`));
          else if (m.type === 'done' && (finished.add(w), dones.push(m) === W)) {
            clearTimeout(limit);
            resolve();
          }
        });
      }
    });
  } finally {
    await Promise.all(workers.map((w) => w.terminate()));
  }
  const cpu = process.cpuUsage(cpu0);
  const cpuCores = (cpu.user + cpu.system) / 1000 / Math.max(1, performance.now() - wall0);
  return assemble(opts, label, dones, seconds, cpuCores);
}

function point(index: number, s: SecondAcc): SeriesPoint {
  return { t: index, sent: s.sent, ok: s.ok, errors: s.errors, p50Ms: atPercentileMs(s.hist, 50), p99Ms: atPercentileMs(s.hist, 99) };
}

/** The phase's LoadResult from the workers' totals. */
function assemble(opts: LoadOptions, label: string, dones: DoneMessage[], seconds: SecondAcc[], cpuCores: number): LoadResult {
  const hist = newHistogram();
  const lagHist = newHistogram();
  const errors: Record<string, number> = {};
  let sent = 0,
    ok = 0,
    late = 0,
    maxLagMs = 0,
    lastSendMs = -1,
    elu = 0;
  for (const d of dones) {
    addEncoded(hist, d.histogram);
    addEncoded(lagHist, d.lagHistogram);
    sent += d.sent;
    ok += d.ok;
    late += d.late;
    maxLagMs = Math.max(maxLagMs, d.maxLagMs);
    lastSendMs = Math.max(lastSendMs, d.lastSendMs);
    elu = Math.max(elu, d.elu);
    for (const [k, n] of Object.entries(d.errors)) errors[k] = (errors[k] ?? 0) + n;
  }
  const errorCount = Object.values(errors).reduce((a, b) => a + b, 0);
  const answers = ok + Object.entries(errors).reduce((a, [k, n]) => a + (NOT_ANSWERS.has(k) ? 0 : n), 0);
  // REST goes through autocannon, a closed loop even with a rate cap (transport-rest.ts).
  const open = opts.rate !== undefined && opts.mode !== 'rest';
  const lateFraction = sent > 0 ? late / sent : 0;
  let limited = elu > ELU_LIMIT;
  const latency = latencyMs(hist);
  const lagP99Ms = atPercentileMs(lagHist, 100 * (1 - LATE_LIMIT));
  if (open) {
    const rate = opts.rate!;
    const expected = Math.round((opts.durationMs * rate) / 1000);
    // Sends made, and how long they took to go out, against the schedule: both fall when the generator lags.
    const span = Math.max(opts.durationMs, lastSendMs + 1000 / rate);
    const sendRatio = expected > 0 ? (sent / expected) * (opts.durationMs / span) : 1;
    limited = lagP99Ms > lateToleranceMs(latency.p99) || sendRatio < SEND_RATE_LIMIT;
  }
  return {
    label,
    target: opts.target,
    mode: opts.mode,
    loop: open ? 'open' : 'closed',
    offeredRate: opts.rate ?? null,
    concurrency: opts.concurrency ?? (opts.mode === 'rest' ? opts.connections * opts.workers : null),
    achievedRate: answers / (opts.durationMs / 1000),
    durationMs: opts.durationMs,
    sent,
    ok,
    errors,
    errorRate: sent > 0 ? errorCount / sent : 0,
    latencyMs: latency,
    histogram: encodeHistogram(hist),
    percentileCurve: percentileCurve(hist),
    series: seconds.map((s, i) => point(i, s)),
    generator: { maxLagMs, lateFraction, ...(open && { lagP99Ms }), limited, cpuCores: Math.min(cpuCores, os.cpus().length) },
  };
}
