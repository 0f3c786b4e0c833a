// Exponential backoff with jitter, for every retry loop in discovery
// (registrar, watcher, hub resync). Jitter spreads a fleet's reconnects so a
// restarted discovery service is not hit by every sidecar in the same
// millisecond.
import { systemRandom, type Random } from './clock';

/** Backoff shape. */
export interface BackoffOptions {
  /** First delay (ms). */
  readonly initialMs?: number;
  /** Largest delay (ms). */
  readonly maxMs?: number;
  /** Growth per attempt. */
  readonly multiplier?: number;
  /** Fraction of each delay drawn at random, 0-1 (0.5: delay in [d/2, d]). */
  readonly jitter?: number;
}

/** Defaults: 100 ms doubling to 5 s, half of each delay random. */
export const DEFAULT_BACKOFF: Required<BackoffOptions> = { initialMs: 100, maxMs: 5000, multiplier: 2, jitter: 0.5 };

/** Successive retry delays; reset() after a success. */
export class Backoff {
  private readonly o: Required<BackoffOptions>;
  private base: number;

  constructor(
    opts: BackoffOptions = {},
    private readonly random: Random = systemRandom,
  ) {
    this.o = { ...DEFAULT_BACKOFF, ...opts };
    this.base = this.o.initialMs;
  }

  /** The delay before the next attempt; each call grows the next one. */
  next(): number {
    const d = this.base * (1 - this.o.jitter * this.random());
    this.base = Math.min(this.o.maxMs, this.base * this.o.multiplier);
    return d;
  }

  /** Back to the initial delay. */
  reset(): void {
    this.base = this.o.initialMs;
  }
}
