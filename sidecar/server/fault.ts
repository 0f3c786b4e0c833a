// Fault injection for tests, chaos drills and benchmarks, like Envoy's fault
// filter: a fixed delay and a percentage of aborts, applied before a request
// is queued. Off unless configured. The settings may change while the
// sidecar serves (set(), behind the metrics port's PUT /fault when the
// sidecar runs with --fault-admin), so a benchmark can make one sidecar slow
// mid-run and let it recover; a request already held by a delay keeps the
// delay it got, because its timer was armed when it arrived.
import type { Random } from '../../common/clock';
import { unavailable, type InferError } from '../../protocol/status';

/** Fault settings; zero means off. */
export interface FaultConfig {
  /** Milliseconds every request waits before queueing. */
  readonly delayMs: number;
  /** Percentage (0-100) of requests failed with UNAVAILABLE before queueing. */
  readonly abortPercent: number;
}

export const NO_FAULTS: FaultConfig = { delayMs: 0, abortPercent: 0 };

/** Throws RangeError naming the setting and the range expected; returns a frozen copy. */
function checked(config: FaultConfig): FaultConfig {
  if (!(config.delayMs >= 0 && Number.isFinite(config.delayMs)))
    throw new RangeError(`fault delay ${config.delayMs} ms; expected a finite number >= 0`);
  if (!(config.abortPercent >= 0 && config.abortPercent <= 100)) {
    throw new RangeError(`fault abort percent ${config.abortPercent}; expected 0 to 100`);
  }
  return Object.freeze({ delayMs: config.delayMs, abortPercent: config.abortPercent });
}

/** Decides per request whether to abort and how long to delay. */
export class FaultInjector {
  private current: FaultConfig;

  constructor(
    config: FaultConfig,
    private readonly random: Random,
  ) {
    this.current = checked(config);
  }

  /** The settings in force now. */
  get config(): FaultConfig {
    return this.current;
  }

  /**
   * Replaces the settings for requests that arrive from now on; throws
   * RangeError (and keeps the old settings) when a value is out of range.
   * Returns the settings it replaced.
   */
  set(config: FaultConfig): FaultConfig {
    const next = checked(config);
    const old = this.current;
    this.current = next;
    return old;
  }

  /** Whether any fault is configured. */
  get active(): boolean {
    return this.current.delayMs > 0 || this.current.abortPercent > 0;
  }

  /** The error to fail this request with, or null to let it through. */
  abort(): InferError | null {
    const p = this.current.abortPercent;
    if (p > 0 && this.random() * 100 < p) {
      return unavailable(`fault injected: aborted (abort_percent ${p}: --fault-abort-percent or PUT /fault)`);
    }
    return null;
  }
}
