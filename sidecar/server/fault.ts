// Fault injection for tests and chaos drills, like Envoy's fault filter:
// a fixed delay and a percentage of aborts, applied before a request is
// queued. Off unless configured.
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

/** Decides per request whether to abort; delay is read directly from the config. */
export class FaultInjector {
  constructor(
    readonly config: FaultConfig,
    private readonly random: Random,
  ) {
    if (!(config.delayMs >= 0)) throw new RangeError(`fault delay ${config.delayMs} ms; expected >= 0`);
    if (!(config.abortPercent >= 0 && config.abortPercent <= 100)) {
      throw new RangeError(`fault abort percent ${config.abortPercent}; expected 0 to 100`);
    }
  }

  /** Whether any fault is configured. */
  get active(): boolean {
    return this.config.delayMs > 0 || this.config.abortPercent > 0;
  }

  /** The error to fail this request with, or null to let it through. */
  abort(): InferError | null {
    if (this.config.abortPercent > 0 && this.random() * 100 < this.config.abortPercent) {
      return unavailable(`fault injected: aborted (--fault-abort-percent ${this.config.abortPercent})`);
    }
    return null;
  }
}
