// Per-endpoint cap on concurrent calls (circuit_breaker.max_in_flight,
// Envoy's max_requests). This is a counter, not opossum: a concurrency cap
// needs "is there room?" answered before a call is sent and the count
// returned when it ends, on whatever path the call takes (unary, stream,
// cancelled, timed out). opossum wraps a promise-returning function in
// fire(), keeps its own semaphore that can only be tested by firing, and
// runs on Date.now() and Node timers, so neither the candidate filter nor
// fake-clock tests could use it. Consecutive-failure fail-fast with a timed
// return is the outlier detector's job (outlier-detector.ts).
//
// The count here is the endpoint's local in-flight figure as well: the load
// metric reads it, so one number is acquired and released, never two.

/** Transitions a breaker reports: it became full, or has room again. */
export type BreakerEvent = 'full' | 'room';

/** Concurrent-call counter with a cap; acquire before a call, release when it ends. */
export class EndpointBreaker {
  private count = 0;
  private rejections = 0;
  private listener: ((e: BreakerEvent) => void) | undefined;

  /** maxInFlight: calls allowed at once (>= 1). */
  constructor(private maxInFlight: number) {}

  /** Takes a slot and returns true, or returns false (and counts a rejection) when full. */
  tryAcquire(): boolean {
    if (this.count >= this.maxInFlight) {
      this.rejections++;
      return false;
    }
    if (++this.count === this.maxInFlight) this.listener?.('full');
    return true;
  }

  /** Returns a slot taken by tryAcquire; exactly once per successful acquire. */
  release(): void {
    if (this.count === 0) throw new Error('EndpointBreaker.release() without a matching tryAcquire()');
    if (this.count-- === this.maxInFlight) this.listener?.('room');
  }

  /** Calls in flight now (this balancer's own). */
  get inFlight(): number {
    return this.count;
  }

  /** Attempts refused because the cap was reached, since creation (for metrics). */
  get rejected(): number {
    return this.rejections;
  }

  /** The cap now. */
  get max(): number {
    return this.maxInFlight;
  }

  /** True while no slot is free: candidate lists skip the endpoint. */
  isFull(): boolean {
    return this.count >= this.maxInFlight;
  }

  /** Calls fn on full/room transitions (a cluster rebuilds its snapshot or records metrics); one listener. */
  onChange(fn: (e: BreakerEvent) => void): void {
    this.listener = fn;
  }

  /** Applies a reloaded cap; calls above a lowered cap finish, new ones wait for room. */
  setMax(maxInFlight: number): void {
    const wasFull = this.isFull();
    this.maxInFlight = maxInFlight;
    if (wasFull !== this.isFull()) this.listener?.(wasFull ? 'room' : 'full');
  }
}
