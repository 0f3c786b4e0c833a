// Open-loop load: requests go out on a fixed schedule whatever the server
// does, and each latency is measured from the request's scheduled send time,
// not from when it actually went out. A stalled server (or a stalled load
// generator) then shows up as latency on every request it delayed, instead
// of silently lowering the offered rate (coordinated omission; wrk2's rule).
import * as hdr from 'hdr-histogram-js';
import type { RawClient } from './raw-client';

/** What to offer. */
export interface OpenLoopOptions {
  /** Requests per second, spread evenly. */
  readonly rate: number;
  /** Seconds of load before measuring (connections, JIT, a balancer's latency estimates). */
  readonly warmupSeconds: number;
  /** Seconds measured, right after the warm-up with no gap in the schedule. */
  readonly seconds: number;
  /** After the last send, how long to wait for answers still out before counting them unfinished. */
  readonly drainMs?: number;
  /** Called once when the first measured request is due (e.g. to snapshot server counters). */
  readonly onMeasureStart?: () => void;
}

/** What the measured part saw. */
export interface OpenLoopResult {
  readonly sent: number;
  readonly ok: number;
  readonly errors: number;
  /** Calls with no answer drain_ms after the last send (also counted in errors). */
  readonly unfinished: number;
  readonly seconds: number;
  /** Latencies of the OK calls, µs from the scheduled send time (merge runs with add()). */
  readonly histogram: hdr.Histogram;
  /** How far behind schedule the generator itself sent its latest request (its own stalls), ms. */
  readonly maxSendLagMs: number;
  /** A few error messages, for the log. */
  readonly errorSamples: string[];
}

/** Percentiles of a latency histogram (µs values), in ms. */
export interface Percentiles {
  readonly p50Ms: number;
  readonly p90Ms: number;
  readonly p99Ms: number;
  readonly p999Ms: number;
  readonly maxMs: number;
}

/** A histogram as the percentiles the benchmarks report. */
export function percentiles(h: hdr.Histogram): Percentiles {
  const at = (p: number) => h.getValueAtPercentile(p) / 1000;
  return { p50Ms: at(50), p90Ms: at(90), p99Ms: at(99), p999Ms: at(99.9), maxMs: h.maxValue / 1000 };
}

/** An empty latency histogram: 1 µs to 120 s at 3 significant digits. */
export function latencyHistogram(): hdr.Histogram {
  return hdr.build({ lowestDiscernibleValue: 1, highestTrackableValue: 120_000_000, numberOfSignificantValueDigits: 3 });
}

/** Offers unary ModelInfer `req` at opts.rate through the clients (round robin) and measures. */
export function openLoop(clients: RawClient[], req: Buffer, opts: OpenLoopOptions): Promise<OpenLoopResult> {
  const h = latencyHistogram();
  const intervalMs = 1000 / opts.rate;
  const warmupN = Math.round(opts.warmupSeconds * opts.rate);
  const total = warmupN + Math.round(opts.seconds * opts.rate);
  const errorSamples: string[] = [];
  let next = 0;
  let outstanding = 0;
  let ok = 0;
  let errors = 0;
  let maxSendLagMs = 0;
  const t0 = performance.now() + 5;
  return new Promise((resolve) => {
    let drainTimer: NodeJS.Timeout | undefined;
    let done = false;
    const finish = () => {
      if (done) return;
      done = true;
      if (drainTimer) clearTimeout(drainTimer);
      const sent = total - warmupN;
      const unfinished = sent - ok - errors;
      resolve({ sent, ok, errors: errors + unfinished, unfinished, seconds: opts.seconds, histogram: h, maxSendLagMs, errorSamples });
    };
    const send = (i: number, scheduled: number) => {
      const measured = i >= warmupN;
      outstanding++;
      clients[i % clients.length].infer(req, (err) => {
        outstanding--;
        if (measured && !done) {
          if (err) {
            errors++;
            if (errorSamples.length < 5) errorSamples.push(`${err.code} ${err.details}`);
          } else {
            ok++;
            h.recordValue(Math.max(1, Math.round((performance.now() - scheduled) * 1000)));
          }
        }
        if (next === total && outstanding === 0) finish();
      });
    };
    // A 1 ms timer, sending everything due: Node timers cannot wake more
    // precisely, and a busy-wait would take a core from the servers. The
    // up-to-1 ms of batching is counted in latency, equally for every target.
    const tick = () => {
      const now = performance.now();
      while (next < total && t0 + next * intervalMs <= now) {
        const scheduled = t0 + next * intervalMs;
        if (next === warmupN) opts.onMeasureStart?.();
        if (next >= warmupN) maxSendLagMs = Math.max(maxSendLagMs, now - scheduled);
        send(next++, scheduled);
      }
      if (next < total) setTimeout(tick, 1);
      else if (outstanding > 0) drainTimer = setTimeout(finish, opts.drainMs ?? 10_000);
      else finish();
    };
    setTimeout(tick, 5);
  });
}
