// Exact percentiles over a few thousand samples (no histogram needed), with
// the nearest-rank rule so p99 of 1000 samples is the 10th largest.

/** Count, p50, p99 and max of a sample set (ms); NaN when empty. */
export interface LatencySummary {
  readonly n: number;
  readonly p50: number;
  readonly p99: number;
  readonly max: number;
}

/** Nearest-rank percentile of sorted values. */
function rank(sorted: readonly number[], p: number): number {
  if (sorted.length === 0) return NaN;
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1))];
}

/** Summarizes samples (ms). */
export function summarize(samples: readonly number[]): LatencySummary {
  const s = [...samples].sort((a, b) => a - b);
  return { n: s.length, p50: rank(s, 50), p99: rank(s, 99), max: s.length ? s[s.length - 1] : NaN };
}
