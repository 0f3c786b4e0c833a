// The open-loop schedule and the pacer that keeps it.
//
// One global schedule: request i is due at t0 + i / rate. With W worker
// threads, worker w sends the indices i ≡ w (mod W), so the threads together
// keep exactly the one even schedule however the rate divides. Latency counts
// from each request's due time (coordinated omission: a stall delays every
// request due during it, and each of them shows it).
//
// Pacing: Node timers wake on whole milliseconds and ~1.1 ms late, which
// left ~11 % of sends more than 1 ms behind at 200-5000 req/s on this
// machine; a setImmediate spin keeps time but burns a core. So the pacer
// sleeps on a timer until ~1 ms before the next send, then blocks the thread
// for the sub-millisecond rest with Atomics.wait (measured 2026-12-01:
// ≤ 0.2 % of sends > 1 ms late, p50 lag 0.08 ms, 3-15 % of a core at
// 200-5000 req/s). While answers are outstanding it blocks in 0.2 ms slices
// with an I/O poll between them, so an answer is read at most 0.2 ms late
// (one unbroken block put p50 at ~1 ms at 1000 req/s: every answer waited
// for the next send); with nothing outstanding one block costs nothing.

/** Where one worker sits in the global open-loop schedule. */
export interface OpenSchedule {
  /** ms between consecutive global sends (1000 / rate). */
  readonly intervalMs: number;
  /** Global indices below this are warm-up: sent, not measured. */
  readonly warmupN: number;
  /** Global indices below this are sent. */
  readonly totalN: number;
  /** This worker's first global index. */
  readonly first: number;
  /** Distance between this worker's indices (the worker count). */
  readonly step: number;
}

/** Worker `worker` of `workers`' share of `rate` req/s over warm-up then measurement. */
export function openSchedule(rate: number, warmupMs: number, durationMs: number, worker: number, workers: number): OpenSchedule {
  if (!(rate > 0)) throw new Error(`rate must be > 0, got ${rate}`);
  const warmupN = Math.round((warmupMs * rate) / 1000);
  return { intervalMs: 1000 / rate, warmupN, totalN: warmupN + Math.round((durationMs * rate) / 1000), first: worker, step: workers };
}

/** How many of this worker's indices fall in [from, to). */
export function indicesIn(s: OpenSchedule, from: number, to: number): number {
  const firstAtOrAfter = (n: number) => s.first + Math.max(0, Math.ceil((n - s.first) / s.step)) * s.step;
  const a = firstAtOrAfter(from);
  return a >= to ? 0 : Math.floor((to - 1 - a) / s.step) + 1;
}

/** Worker `worker`'s share when `n` callers (or connections) are split over `workers`. */
export function share(n: number, worker: number, workers: number): number {
  return Math.floor(n / workers) + (worker < n % workers ? 1 : 0);
}

const UNITS: Record<string, number> = { ms: 1, s: 1000, m: 60_000, h: 3_600_000 };

/** '30s', '500ms', '2m', '1.5h' → ms; a bare number is refused (ambiguous), except 0. */
export function parseDuration(raw: string): number {
  const m = /^(\d+(?:\.\d+)?)(ms|s|m|h)?$/.exec(raw.trim());
  if (!m || (!m[2] && Number(m[1]) !== 0)) throw new Error(`'${raw}' is not a duration; expected e.g. 30s, 500ms, 2m`);
  return Number(m[1]) * (m[2] ? UNITS[m[2]] : 1);
}

/** Called for each send: global index, due time (performance.now() ms), and how late it goes out (ms). */
export type SendFn = (index: number, dueMs: number, lagMs: number) => void;

/** Longest sub-millisecond block; beyond this the pacer sleeps on a timer and lets I/O run. */
const BLOCK_MAX_MS = 1.5;
/** One block while answers are outstanding; each slice costs an event-loop turn (~20 us here: 0.1 core at 1000 req/s). */
const SLICE_MS = 0.2;
/** Sends per turn while catching up, so responses still get read between bursts. */
const BURST = 256;
const sleeper = new Int32Array(new SharedArrayBuffer(4));

/** Drives one worker's share of a schedule; stops once it is done or hopelessly behind. */
export class Pacer {
  private next: number;
  private readonly giveUpAt: number;

  /**
   * t0: when global index 0 is due (performance.now() ms). waiting: whether answers are outstanding.
   * maxBehindMs: sending stops this long after the schedule's end even if sends remain (the run stays
   * bounded; the shortfall shows as a generator limit).
   */
  constructor(
    private readonly s: OpenSchedule,
    private readonly t0: number,
    private readonly send: SendFn,
    private readonly onEnd: (unsent: number) => void,
    private readonly waiting: () => boolean = () => true,
    maxBehindMs = 1000,
  ) {
    this.next = s.first;
    this.giveUpAt = t0 + s.totalN * s.intervalMs + maxBehindMs;
  }

  /** Starts pacing (the first send waits for its due time). */
  start(): void {
    this.turn();
  }

  private readonly turn = (): void => {
    const { s, t0 } = this;
    let now = performance.now();
    const gap = t0 + this.next * s.intervalMs - now;
    if (gap > 0 && gap <= BLOCK_MAX_MS) {
      // In slices while answers are due: they wait at most one slice to be read (their latency is real time).
      Atomics.wait(sleeper, 0, 0, this.waiting() ? Math.min(gap, SLICE_MS) : gap);
      now = performance.now();
    }
    for (let n = 0; n < BURST && this.next < s.totalN; n++) {
      const due = t0 + this.next * s.intervalMs;
      if (due > now) break;
      this.send(this.next, due, now - due);
      this.next += s.step;
      now = performance.now();
    }
    if (this.next >= s.totalN) return this.onEnd(0);
    if (now > this.giveUpAt) {
      return this.onEnd(indicesFrom(s, this.next));
    }
    const wait = t0 + this.next * s.intervalMs - now;
    if (wait > BLOCK_MAX_MS) setTimeout(this.turn, Math.floor(wait - 1));
    else setImmediate(this.turn);
  };
}

/** This worker's indices from `next` (one of its own) to the end. */
function indicesFrom(s: OpenSchedule, next: number): number {
  return next >= s.totalN ? 0 : Math.floor((s.totalN - 1 - next) / s.step) + 1;
}
