// The balancer's default latency estimate per endpoint, and the cluster's
// typical latency it is seeded from and relaxes toward. What it keeps from
// its anchors, and why it is not peak EWMA (BENCHMARKS.md, "Choosing well"):
//
// - Per-sample weights, not time decay, while samples flow (tower's
//   PeakEwma and Finagle weigh a sample by the time since the last one, so a
//   busy endpoint's estimate follows its recent peaks: fast sidecars with a
//   ~3.3 ms median sat at 10-12 ms, and a +25 ms one looked only 3x slower).
//   A sample above the estimate weighs rise_weight (0.5: slowing down shows
//   within two or three calls), one below weighs fall_weight (0.2).
// - The first sample replaces the seed: a cold balancer knows each endpoint
//   after its first answer, not after 2.5 decay times (the 15-20 s the old
//   estimate took to learn).
// - Seeded from the cluster's typical latency (the median of its members'
//   estimates), not a fixed 30 ms: a joining sidecar competes at once.
// - Without samples it relaxes toward that typical figure with time constant
//   relax_ms (stretched up to 4x for an endpoint far slower than the rest),
//   instead of Finagle's decay toward zero: an endpoint that lost every pick
//   is tried again after a few relax times (a probe, one at a time: while a
//   call to it is unanswered it is judged on its own figure), and one that is
//   still slow goes straight back up on that one answer, since a sample after
//   a gap of t weighs at least 1 - exp(-t/relax_ms). Decaying toward zero made
//   a starved endpoint the best one in the cluster; not decaying at all (an
//   estimate read only when sampled) let one bad moment bar a healthy sidecar
//   for minutes.
// - Failures: a failed call counts as at least failure_factor × the estimate
//   (a fast failure is no evidence of a fast endpoint, and a retry costs a
//   second call); outcomes that are the caller's doing move it only upward.
import type { LatencyEstimateConfig } from '../../../routing-config/types';

/** How a finished call counts for the latency estimate. */
export type CallOutcome = 'ok' | 'failed' | 'neutral';

/** One endpoint's latency estimate on the balancer's clock (ms). */
export interface LatencyEstimator {
  /** Records a finished call of latencyMs that ended at `now`. */
  observe(latencyMs: number, outcome: CallOutcome, now: number): void;
  /**
   * Expected latency (ms) of a call sent at `now`, with `awaiting` calls to the endpoint still
   * unanswered; reading changes nothing.
   */
  estimate(now: number, awaiting?: number): number;
  /** The figure as of the last sample (for /status and tests). */
  peek(): number;
  /** Whether any sample has arrived (the cluster's typical latency counts only these). */
  readonly sampled: boolean;
  /** Clock time of the last sample. */
  readonly sampledAt: number;
  /** Leaves the cluster's typical latency (endpoint removed). */
  close(): void;
}

/** Recompute the cluster's median at most this often (ms): cheap for large clusters, fresh enough to seed a joiner. */
const TYPICAL_EVERY_MS = 50;
/** A successful sample counts as at most this many times the estimate (see observe()). */
const SPIKE_CLIP = 2;
/** A sample over this many times the cluster's figure counts toward a slow streak (see relaxMs()). */
const SLOW_RATIO = 2;
/** The most relaxation slows down for an endpoint far slower than its cluster (see relaxMs()). */
const MAX_RELAX_STRETCH = 4;
/** An estimate without a sample for this many relax times is stale: it no longer votes in the cluster's median. */
const STALE_RELAX_TIMES = 4;

/** A cluster's typical latency: the lower median of its sampled members' estimates, or the configured initial figure. */
export class ClusterLatency {
  private readonly members = new Set<LatencyEstimator>();
  private typicalMs: number;
  private at = -Infinity;
  private readonly scratch: number[] = [];

  constructor(
    private readonly initialMs: number,
    private readonly relaxMs: number,
  ) {
    this.typicalMs = initialMs;
  }

  /**
   * The median estimate of members sampled within the last STALE_RELAX_TIMES relax times
   * (of every sampled member when none was), as of at most TYPICAL_EVERY_MS ago. Stale
   * figures do not vote: with two endpoints, a starved one's own old figure would hold the
   * median halfway between it and the live one, and it would never relax close enough to be
   * picked again.
   */
  typical(now: number): number {
    if (now - this.at < TYPICAL_EVERY_MS) return this.typicalMs;
    this.at = now;
    const xs = this.scratch;
    xs.length = 0;
    const since = now - STALE_RELAX_TIMES * this.relaxMs;
    for (const m of this.members) if (m.sampled && m.sampledAt >= since) xs.push(m.peek());
    if (xs.length === 0) for (const m of this.members) if (m.sampled) xs.push(m.peek());
    if (xs.length === 0) return (this.typicalMs = this.initialMs);
    xs.sort((a, b) => a - b);
    // The lower median: of two endpoints, one slow, the fast one's figure. The mean of the two
    // would pull a fast endpoint's estimate up between its samples at low rates.
    this.typicalMs = xs[(xs.length - 1) >> 1];
    return this.typicalMs;
  }

  /** A new estimate for one endpoint, seeded with the typical latency now. */
  join(config: LatencyEstimateConfig, now: number): LatencyEstimate {
    const e = new LatencyEstimate(config, this, now);
    this.members.add(e);
    return e;
  }

  /** Called by a member's close(). */
  leave(e: LatencyEstimator): void {
    this.members.delete(e);
  }
}

/** See the file comment. */
export class LatencyEstimate implements LatencyEstimator {
  private valueMs: number;
  private at: number;
  private samples = 0;
  /** Samples in a row over SLOW_RATIO × the cluster's figure: one is a moment, two are a slow endpoint. */
  private slowStreak = 0;

  constructor(
    private readonly config: LatencyEstimateConfig,
    private readonly cluster: ClusterLatency,
    now: number,
  ) {
    this.valueMs = cluster.typical(now);
    this.at = now;
  }

  get sampled(): boolean {
    return this.samples > 0;
  }

  get sampledAt(): number {
    return this.at;
  }

  observe(latencyMs: number, outcome: CallOutcome, now: number): void {
    const base = this.estimate(now);
    if (outcome === 'neutral' && latencyMs <= base) return;
    const typical = this.cluster.typical(now);
    if (this.samples === 0) {
      // The first answer replaces the seed, but counts as at most SPIKE_CLIP² × the cluster's figure:
      // a freshly started sidecar's first answer can take 100 ms (its JIT and first ONNX Runtime runs).
      const first = outcome === 'failed' ? Math.max(latencyMs, base * this.config.failure_factor) : latencyMs;
      this.valueMs = Math.min(first, typical * SPIKE_CLIP * SPIKE_CLIP);
    } else {
      // After a gap the old figure is mostly the cluster's, not this endpoint's: the new sample says more.
      const gap = now - this.at;
      const gapW = gap > 0 ? 1 - Math.exp(-gap / this.config.relax_ms) : 0;
      let sample = latencyMs;
      if (outcome === 'failed') sample = Math.max(latencyMs, base * this.config.failure_factor);
      // One slow answer from an endpoint with a record moves it by at most SPIKE_CLIP × its
      // figure: a GC pause is not a slow sidecar. A real slowdown still shows within a few
      // samples (and at once in the in-flight age); a failure, or a sample after a gap, is not clipped.
      else if (gapW < this.config.rise_weight) sample = Math.min(sample, base * SPIKE_CLIP);
      const w = Math.max(sample > base ? this.config.rise_weight : this.config.fall_weight, gapW);
      this.valueMs = base + w * (sample - base);
    }
    this.samples++;
    this.slowStreak = outcome === 'failed' || latencyMs > SLOW_RATIO * typical ? this.slowStreak + 1 : 0;
    // A late completion reported with an older time must not move the clock back.
    if (now > this.at) this.at = now;
  }

  /**
   * The figure relaxed toward the cluster's for the time since the last sample; while calls
   * are awaiting their answer, the figure itself. One probe at a time: an endpoint that
   * relaxed back into contention takes one call and waits for its answer, instead of every
   * call that draws it until the first answer (~5 calls a probe at 2000 calls/s with a +5 ms
   * sidecar, which then kept 2 % of the calls).
   */
  estimate(now: number, awaiting = 0): number {
    // Never answered: the cluster's figure as it is now, not as it was at the join (all 30 ms seeds
    // at a cold start, with the first endpoint to answer at 3 ms, kept the rest out for seconds).
    if (this.samples === 0) return awaiting > 0 ? Math.max(this.valueMs, this.cluster.typical(now)) : this.cluster.typical(now);
    if (awaiting > 0) return this.valueMs;
    const gap = now - this.at;
    if (gap <= 0) return this.valueMs;
    const t = this.cluster.typical(now);
    return t + (this.valueMs - t) * Math.exp(-gap / this.relaxMs(t));
  }

  peek(): number {
    return this.valueMs;
  }

  /**
   * The relax time constant: relax_ms, stretched by how much slower than the cluster the
   * endpoint was (up to MAX_RELAX_STRETCH), so a sidecar far out is probed every few seconds
   * while one that only looked slow for a moment (an outlier sample) is back within
   * ~relax_ms. At 500 calls/s a +25 ms sidecar relaxing at 250 ms drew ~3 probes a second,
   * 0.6 % of the calls: enough to set p99 in one-second windows (bench:skew-matrix, r500-d25).
   */
  private relaxMs(typicalMs: number): number {
    // Only a confirmed slow endpoint: a sidecar whose first answer was slow (a cold start) is
    // tried again within ~relax_ms, or it sat out a whole e2e test's 600 calls.
    if (this.slowStreak < 2) return this.config.relax_ms;
    const stretch = typicalMs > 0 ? Math.min(MAX_RELAX_STRETCH, Math.max(1, this.valueMs / typicalMs)) : 1;
    return this.config.relax_ms * stretch;
  }

  close(): void {
    this.cluster.leave(this);
  }
}
