// The pure figures of one run: latency percentiles per time window from
// h2load's per-request log, each sidecar's share of calls per 1 s window
// from the 250 ms polls of its /metrics, the p99 inside the sidecars from
// their latency histograms, and the convergence times built on the shares.
// Times are seconds from the run's first request unless named otherwise.

/** One h2load log row. */
export interface Sample {
  /** Start, µs since the epoch. */
  readonly startUs: number;
  /** HTTP status; -1 for a failed stream. */
  readonly status: number;
  /** Start to end of response, µs. */
  readonly durUs: number;
}

/** h2load --log-file text: start µs, status, duration µs, tab-separated (more columns may follow). */
export function parseH2loadLog(text: string): Sample[] {
  const out: Sample[] = [];
  for (const line of text.split('\n')) {
    const f = line.split('\t');
    if (f.length < 3) continue;
    const [startUs, status, durUs] = [Number(f[0]), Number(f[1]), Number(f[2])];
    if (Number.isFinite(startUs) && Number.isFinite(status) && Number.isFinite(durUs)) out.push({ startUs, status, durUs });
  }
  return out;
}

/** Nearest-rank percentile of ascending values; NaN when empty. */
export function percentile(sorted: readonly number[], p: number): number {
  if (sorted.length === 0) return NaN;
  // (p / 100) * n is 999.0000000000001 for p99.9 of 1000: the epsilon keeps the rank exact.
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil((p * sorted.length) / 100 - 1e-9) - 1))];
}

/** Latency of the answered requests started in one window. */
export interface LatencyWindow {
  /** Requests started in the window (answered or not). */
  readonly sent: number;
  /** Of those, answered with HTTP 200 (gRPC errors included: h2load cannot see grpc-status). */
  readonly answered: number;
  readonly p50: number;
  readonly p99: number;
  readonly p999: number;
}

/** Percentiles (ms) of samples started in [fromS, toS) after t0Us. */
export function latencyWindow(samples: readonly Sample[], t0Us: number, fromS: number, toS: number): LatencyWindow {
  const [a, b] = [t0Us + fromS * 1e6, t0Us + toS * 1e6];
  const inWin = samples.filter((s) => s.startUs >= a && s.startUs < b);
  const ms = inWin
    .filter((s) => s.status === 200)
    .map((s) => s.durUs / 1000)
    .sort((x, y) => x - y);
  return { sent: inWin.length, answered: ms.length, p50: percentile(ms, 50), p99: percentile(ms, 99), p999: percentile(ms, 99.9) };
}

/** p99 (ms) of each whole second from t0 up to toS. */
export const p99PerSecond = (samples: readonly Sample[], t0Us: number, toS: number): number[] =>
  Array.from({ length: Math.ceil(toS) }, (_, i) => latencyWindow(samples, t0Us, i, i + 1).p99);

/** One poll of every sidecar's /metrics: cumulative counts since it started. */
export interface Poll {
  /** When the poll was sent, ms since the epoch. */
  readonly atMs: number;
  /** Calls finished per sidecar, every status. */
  readonly calls: readonly number[];
  /** Calls finished per sidecar with a status other than OK. */
  readonly nonOk: readonly number[];
  /** Per sidecar, the latency histogram's cumulative bucket counts (same order as bucketsMs). */
  readonly buckets: readonly (readonly number[])[];
}

/** The poll nearest in time to atMs (polls ascending). */
export function nearestPoll(polls: readonly Poll[], atMs: number): Poll {
  let best = polls[0];
  for (const p of polls) if (Math.abs(p.atMs - atMs) < Math.abs(best.atMs - atMs)) best = p;
  return best;
}

/** Calls per sidecar between two polls. */
export const callsBetween = (a: Poll, b: Poll): number[] => b.calls.map((c, i) => c - a.calls[i]);

/** A share of calls over one window [startS, startS + 1 s). */
export interface ShareWindow {
  readonly startS: number;
  /** Calls to all sidecars in the window. */
  readonly total: number;
  /** Fraction (0-1) of those that went to the watched sidecar. */
  readonly share: number;
}

/**
 * The watched sidecar's share in every 1 s window that starts at a poll (so windows step by the poll
 * period) and ends at a later poll; windows with fewer than minCalls calls (before the load, after it)
 * are left out. A window starting at the last poll before the first request is put at 0.
 */
export function shareSeries(polls: readonly Poll[], t0Ms: number, sidecar: number, pollMs: number, minCalls = 10): ShareWindow[] {
  const step = Math.round(1000 / pollMs);
  const out: ShareWindow[] = [];
  for (let i = 0; i + step < polls.length; i++) {
    if (polls[i].atMs - t0Ms <= -pollMs) continue;
    const d = callsBetween(polls[i], polls[i + step]);
    const total = d.reduce((x, y) => x + y, 0);
    if (total < minCalls) continue;
    out.push({ startS: Math.max(0, (polls[i].atMs - t0Ms) / 1000), total, share: d[sidecar] / total });
  }
  return out;
}

/**
 * Seconds after fromS until every window starting in [fromS, untilS - 1] has a share under limit:
 * the start of the window after the last one at or above it (0 when none is). Null when the last
 * such window is still at or above the limit (it never converged), or there is no window.
 */
export function timeToStayUnder(series: readonly ShareWindow[], fromS: number, untilS: number, limit: number): number | null {
  const ws = series.filter((w) => w.startS >= fromS - 1e-9 && w.startS + 1 <= untilS + 1e-9);
  if (ws.length === 0) return null;
  let last = -1;
  ws.forEach((w, i) => w.share >= limit && (last = i));
  if (last === ws.length - 1) return null;
  return last < 0 ? 0 : ws[last + 1].startS - fromS;
}

/** Seconds after fromS until the first window starting at or after fromS has a share of at least target; null if none. */
export function timeToReach(series: readonly ShareWindow[], fromS: number, target: number): number | null {
  const w = series.find((x) => x.startS >= fromS - 1e-9 && x.share >= target);
  return w ? w.startS - fromS : null;
}

/**
 * Where a sidecar that had no calls first shows some: the time (s) of the last poll at which it still
 * had none, so its first answer came in the poll period after it; null when it never answered.
 */
export function firstAnswerS(polls: readonly Poll[], t0Ms: number, sidecar: number): number | null {
  const i = polls.findIndex((p) => p.calls[sidecar] > polls[0].calls[sidecar]);
  if (i < 0) return null;
  return Math.max(0, (polls[Math.max(0, i - 1)].atMs - t0Ms) / 1000);
}

/**
 * p99 (ms) inside the sidecars listed, from their histograms between two polls: the upper bound of
 * the bucket the 99th percentile falls in. bucketsMs are the histogram's bounds, the last one
 * Infinity (+Inf, whose count is every observation); NaN without calls.
 */
export function sidecarP99(a: Poll, b: Poll, sidecars: readonly number[], bucketsMs: readonly number[]): number {
  const cum = bucketsMs.map((_, k) => sidecars.reduce((sum, s) => sum + (b.buckets[s]?.[k] ?? 0) - (a.buckets[s]?.[k] ?? 0), 0));
  const total = cum[cum.length - 1];
  if (!(total > 0)) return NaN;
  return bucketsMs[cum.findIndex((c) => c >= 0.99 * total)];
}
