// Peak EWMA round-trip estimate (Finagle's PeakEwma, tower's and Linkerd's
// peak_ewma): a sample above the estimate replaces it at once, a sample
// below pulls it down with weight 1 - exp(-elapsed/decay). Reading the
// estimate decays it toward zero for the time since the last update, as
// Finagle's get() does with observe(0): an endpoint that keeps losing picks
// gets no samples, and without that decay its one bad moment would bar it
// for good; with it, it is tried again after a few decay times.
//
// Elapsed time is measured between updates (samples and reads alike), so
// the samples of a busy endpoint are weighed by how long since it was last
// looked at: the estimate follows recent peaks rather than the mean, which
// is the point (Linkerd: one slow backend among 11 hurts peak EWMA only at
// ~p99.9, least-loaded from ~p99). Its blind spots, measured here (BENCHMARKS.md,
// "Choosing well"), made it the `estimator: peak_ewma` option rather than the
// default: see latency-estimate.ts.
import type { PeakEwmaConfig } from '../../../routing-config/types';
import type { CallOutcome, LatencyEstimator } from './latency-estimate';

/** One endpoint's peak-sensitive latency estimate, on an injected time axis (ms). */
export class PeakEwma implements LatencyEstimator {
  /** Peak EWMA has no notion of "no sample yet": it starts at initial_rtt_ms. */
  readonly sampled = true;

  /** The last update (samples and reads alike). */
  get sampledAt(): number {
    return this.at;
  }

  private rttMs: number;
  private at: number;
  private decayMs: number;

  /** Starts at config.initial_rtt_ms as of `now`, so an endpoint with no samples is neither free nor barred. */
  constructor(config: PeakEwmaConfig, now: number) {
    this.rttMs = config.initial_rtt_ms;
    this.decayMs = config.decay_ms;
    this.at = now;
  }

  /**
   * Records one call. A fast failure is no evidence of a fast endpoint: failures (and the
   * caller's errors) may raise the estimate, never lower it, or a backend failing in 1 ms
   * would attract every pick (the black-hole failure of least-latency).
   */
  observe(rttMs: number, outcome: CallOutcome, now: number): void {
    if (outcome === 'ok' || rttMs > this.rttMs) this.sample(rttMs, now);
  }

  /** Records one round trip of `rttMs` that ended at `now`. */
  private sample(rttMs: number, now: number): void {
    if (rttMs > this.rttMs) {
      // Peak: trust the worst recent figure at once.
      this.rttMs = rttMs;
    } else {
      const w = Math.exp(-Math.max(0, now - this.at) / this.decayMs);
      this.rttMs = this.rttMs * w + rttMs * (1 - w);
    }
    // A late completion reported with an older time must not move the clock back.
    if (now > this.at) this.at = now;
  }

  /** The estimate (ms) at `now`, decayed toward zero since the last update; moves the update time to now. */
  estimate(now: number): number {
    this.sample(0, now);
    return this.rttMs;
  }

  /** The estimate as of the last update, without decaying it (for /status and tests). */
  peek(): number {
    return this.rttMs;
  }

  /** Applies a reloaded decay time; the current estimate is kept. */
  setDecay(decayMs: number): void {
    this.decayMs = decayMs;
  }

  /** Nothing to leave: peak EWMA keeps no cluster-wide figure. */
  close(): void {}
}
