// Retries, bounded by Envoy's retry budget: retries (and hedges) in flight
// may be at most max(min_retry_concurrency, budget_percent % of active
// calls). A fixed "N retries per call" multiplies load by N+1 exactly when
// the endpoints are failing from overload; a budget tied to active calls
// caps the extra load at a share, and the floor lets a quiet balancer still
// retry its few calls. max_retries still bounds each call.
//
// What is retryable: the policy's retryable_statuses (default UNAVAILABLE,
// RESOURCE_EXHAUSTED), and a connection failure always, whatever its status:
// the request never reached a model, so sending it elsewhere cannot run it
// twice. A refused attempt (UpstreamResult.refused) does not come here
// first: the router retries it outside the budget (router.ts).
//
// One budget per route (model or objective): the budget share is a policy
// setting. Counts are plain integers; Node runs the data path on one thread.
import { Status } from '../../protocol/status';
import type { RetryConfig } from '../../routing-config/types';

/** A retry decision; on retry, a budget slot is held until retryEnded(). */
export type RetryDecision =
  { readonly retry: true } | { readonly retry: false; readonly reason: 'not_retryable' | 'max_retries' | 'budget' };

const RETRY: RetryDecision = { retry: true };
const NOT_RETRYABLE: RetryDecision = { retry: false, reason: 'not_retryable' };
const MAX_RETRIES: RetryDecision = { retry: false, reason: 'max_retries' };
const BUDGET: RetryDecision = { retry: false, reason: 'budget' };

/** Envoy-style retry budget and per-call retry decision. */
export class RetryBudget {
  private retryable = new Set<Status>();
  private active = 0;
  private retrying = 0;

  constructor(private config: RetryConfig) {
    this.setConfig(config);
  }

  /** A client call started (counted once, however many attempts it makes). */
  callStarted(): void {
    this.active++;
  }

  /** A client call ended. */
  callEnded(): void {
    if (this.active > 0) this.active--;
  }

  /** True when an attempt that ended with `code` may be retried (connectionFailure: it never reached the endpoint). */
  isRetryable(code: Status, connectionFailure = false): boolean {
    return connectionFailure || this.retryable.has(code);
  }

  /** Retries in flight allowed now. */
  limit(): number {
    return Math.max(this.config.min_retry_concurrency, (this.config.budget_percent / 100) * this.active);
  }

  /**
   * Decides whether a call retries after an attempt failed. retriesDone:
   * retries this call already made. A 'retry' holds a budget slot: call
   * retryEnded() when that attempt ends, however it ends.
   */
  decide(retriesDone: number, code: Status, connectionFailure = false): RetryDecision {
    if (!this.isRetryable(code, connectionFailure)) return NOT_RETRYABLE;
    if (retriesDone >= this.config.max_retries) return MAX_RETRIES;
    return this.tryAcquire() ? RETRY : BUDGET;
  }

  /** Takes a budget slot for a hedged attempt; true when taken (release with retryEnded()). */
  tryHedge(): boolean {
    return this.tryAcquire();
  }

  /** A retry or hedge attempt ended. */
  retryEnded(): void {
    if (this.retrying > 0) this.retrying--;
  }

  /** Calls active now. */
  get activeCalls(): number {
    return this.active;
  }

  /** Retries and hedges in flight now. */
  get activeRetries(): number {
    return this.retrying;
  }

  /** Applies a reloaded retry config; counts carry over. */
  setConfig(config: RetryConfig): void {
    this.config = config;
    this.retryable = new Set(config.retryable_statuses.map((n) => Status[n]));
  }

  private tryAcquire(): boolean {
    if (this.retrying >= this.limit()) return false;
    this.retrying++;
    return true;
  }
}
