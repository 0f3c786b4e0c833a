// A circuit breaker (opossum) around one execution instance, so a sick
// instance (a wedged GPU, a session that keeps throwing) stops taking batches
// and the batcher sends them to healthy instances, or fails fast when none is.
//
// opossum's timeout fails the call and counts it, but cannot stop the ONNX
// Runtime execution underneath: that keeps running and holds the session.
// busy() stays true until it really ends, so the batcher does not stack more
// work on a wedged instance, and close() waits (bounded) before freeing it.
//
// Timers: opossum unref()s its rolling-window and reset timers, and the
// per-call timeout timer is cleared when the call settles; snapshots are
// disabled (one fewer interval); close() calls shutdown() to stop the rest.
// So a breaker never keeps the process alive.
import CircuitBreaker from 'opossum';
import { systemClock, type Clock } from '../../common/clock';
import type { Logger } from '../../common/log';
import { Status, InferError, unavailable } from '../../protocol/status';
import type { BreakerConfig } from '../repository/config-types';
import type { ModelRunner } from '../scheduler/types';
import type { Tensor } from '../../protocol/tensor';

/** Breaker state, as metrics label it. */
export type BreakerState = 'closed' | 'open' | 'half_open';

/** What an InstanceBreaker wraps. */
export interface InstanceBreakerOptions {
  /** Model name, for messages. */
  readonly model: string;
  /** Instance label (its index, usually), for messages and metrics. */
  readonly instance: string;
  readonly config: BreakerConfig;
  readonly log?: Logger;
  /** Times close()'s bounded wait for a running execution (default: the process clock; opossum keeps its own timers). */
  readonly clock?: Clock;
}

/** A ModelRunner that refuses work with UNAVAILABLE while its breaker is open. */
export class InstanceBreaker implements ModelRunner {
  private readonly cb: CircuitBreaker<[readonly Tensor[]], Tensor[]>;
  private readonly stateListeners: ((s: BreakerState) => void)[] = [];
  private readonly idleListeners: (() => void)[] = [];
  /** Executions running in the inner runner, including ones opossum timed out. */
  private executing = 0;
  private readonly settle = (): void => {
    if (--this.executing === 0) for (const fn of this.idleListeners) fn();
  };

  constructor(
    private readonly inner: ModelRunner,
    private readonly opts: InstanceBreakerOptions,
  ) {
    const c = opts.config;
    const window = Math.max(1, c.rolling_window_ms);
    this.cb = new CircuitBreaker((inputs: readonly Tensor[]) => this.execute(inputs), {
      name: `${opts.model}/${opts.instance}`,
      timeout: c.timeout_ms > 0 ? c.timeout_ms : false,
      errorThresholdPercentage: c.error_threshold_percentage,
      volumeThreshold: c.volume_threshold,
      resetTimeout: c.reset_timeout_ms,
      rollingCountTimeout: window,
      // opossum ticks every window/buckets ms; keep the tick at 1 ms or more.
      rollingCountBuckets: Math.min(10, window),
      enableSnapshots: false,
      // A caller's bad input says nothing about the instance's health.
      errorFilter: (err: unknown) => err instanceof InferError && err.code === Status.INVALID_ARGUMENT,
    });
    this.cb.on('open', () => this.changed('open'));
    this.cb.on('halfOpen', () => this.changed('half_open'));
    this.cb.on('close', () => this.changed('closed'));
  }

  /** Runs a batch; rejects with UNAVAILABLE when the circuit is open or the execution timed out. */
  run(inputs: readonly Tensor[]): Promise<Tensor[]> {
    if (this.cb.opened) return Promise.reject(this.openError());
    return this.cb.fire(inputs).catch((err: unknown) => {
      throw this.mapError(err);
    });
  }

  /** The breaker's state now. */
  state(): BreakerState {
    return this.cb.opened ? 'open' : this.cb.halfOpen ? 'half_open' : 'closed';
  }

  /** Whether the breaker refuses work now. */
  isOpen(): boolean {
    return this.cb.opened;
  }

  /** Whether an execution (possibly one abandoned by a timeout) is still running underneath. */
  busy(): boolean {
    return this.executing > 0;
  }

  /** Calls fn on every state change (metrics, the batcher's loop). */
  onStateChange(fn: (state: BreakerState) => void): void {
    this.stateListeners.push(fn);
  }

  /** Calls fn whenever busy() turns false. */
  onIdle(fn: () => void): void {
    this.idleListeners.push(fn);
  }

  /** Stops the breaker's timers, waits up to max(timeout_ms, 1 s) for a running execution, frees the instance. */
  async close(): Promise<void> {
    this.cb.shutdown();
    if (this.executing > 0) {
      const clock = this.opts.clock ?? systemClock;
      await new Promise<void>((resolve) => {
        const t = clock.setTimeout(resolve, Math.max(this.opts.config.timeout_ms, 1000));
        clock.unref(t); // see "Timers" above
        this.idleListeners.push(() => {
          clock.clearTimeout(t);
          resolve();
        });
      });
    }
    await this.inner.close();
  }

  private execute(inputs: readonly Tensor[]): Promise<Tensor[]> {
    this.executing++;
    let p: Promise<Tensor[]>;
    try {
      p = this.inner.run(inputs);
    } catch (e) {
      p = Promise.reject(e);
    }
    p.then(this.settle, this.settle);
    return p;
  }

  private changed(s: BreakerState): void {
    const fields = { model: this.opts.model, instance: this.opts.instance, state: s };
    if (s === 'open') this.opts.log?.warn('instance circuit opened', fields);
    else this.opts.log?.info('instance circuit state', fields);
    for (const fn of this.stateListeners) fn(s);
  }

  private openError(): InferError {
    return unavailable(
      `model '${this.opts.model}' instance ${this.opts.instance}: circuit open after repeated failures; retry later or on another replica`,
    );
  }

  private mapError(err: unknown): unknown {
    const code = (err as { code?: unknown } | null)?.code;
    if (code === 'EOPENBREAKER') return this.openError();
    if (code === 'ESHUTDOWN') return unavailable(`model '${this.opts.model}' instance ${this.opts.instance} is closed`);
    if (code === 'ETIMEDOUT') {
      return unavailable(
        `model '${this.opts.model}' instance ${this.opts.instance} did not finish within ${this.opts.config.timeout_ms} ms (breaker timeout_ms); the execution may still be running`,
      );
    }
    return err;
  }
}
