// What the balancer keeps per endpoint of one model cluster, attached when
// discovery INSERTs it and dropped on REMOVE (close()). Discovery's
// ClusterEndpoint is replaced on UPDATE; the mutable figures live here:
// this balancer's in-flight calls (counted by the breaker) and when they
// started, the sidecar's last load report and when it arrived, the latency
// estimate, the outlier record and the breaker.
//
// Every call that got a slot from tryStart() ends in exactly one
// onCallEnded(), which updates all of them together (grpc-js onCallEnded,
// tower's handle drop): one place to forget nothing.
import type { Clock } from '../../common/clock';
import { Status } from '../../protocol/status';
import type { CircuitBreakerConfig, EndpointOverride } from '../../routing-config/types';
import type { ClusterEndpoint, LoadSummary } from '../../discovery/types';
import type { OrcaLoadReport__Output } from '../../proto/gen/xds/data/orca/v3/OrcaLoadReport';
import { LOAD_KEYS } from '../../protocol/load-report';
import { EndpointBreaker } from './endpoint-breaker';
import type { CallOutcome, LatencyEstimator } from './load/latency-estimate';
import type { EstimatorFactory } from './load/estimators';
import { OutlierRecord, type OutlierDetector } from './outlier-detector';

/** A load report as the balancer keeps it: the sidecar's figures and the clock time they arrived. */
export interface ReportedLoad extends LoadSummary {
  /** Clock time (ms) the report arrived. */
  readonly at: number;
}

/** The settings per-endpoint state takes from the model's routing policy. */
export interface EndpointStateOptions {
  /** The balancer's clock; every time figure here is on it. */
  readonly clock: Clock;
  /** Makes the endpoint's latency estimator (the cluster's, from the policy's p2c section). */
  readonly estimator: EstimatorFactory;
  /** The in-flight cap. */
  readonly breaker: CircuitBreakerConfig;
  /** The model cluster's detector; the state joins it now and leaves it on close(). */
  readonly detector: OutlierDetector<EndpointState>;
  /** Told of every attempt's start and end (metrics); absent: nobody. */
  readonly observer?: EndpointObserver;
}

/** Hears of each attempt the state admits and ends: the one place every attempt passes. */
export interface EndpointObserver {
  /** An attempt got an in-flight slot. */
  started(): void;
  /** An admitted attempt ended after latencyMs. */
  ended(latencyMs: number): void;
}

/**
 * How often a call to an endpoint goes as a unary call for its load report: 50 a second
 * keeps queue depth fresh (the picker ignores reports older than 2 s by default) at a
 * cost of ~1 in 100 calls at 5K calls/s per endpoint.
 */
export const LOAD_REPORT_EVERY_MS = 20;

/** The load figures in an ORCA report's named_metrics, or undefined when it carries none of ours. */
export function loadFromOrca(r: OrcaLoadReport__Output): LoadSummary | undefined {
  const m = r.named_metrics;
  if (!m || !(Object.hasOwn(m, LOAD_KEYS.queueDepth) || Object.hasOwn(m, LOAD_KEYS.inFlight))) return undefined;
  return { queueDepth: m[LOAD_KEYS.queueDepth] ?? 0, inFlight: m[LOAD_KEYS.inFlight] ?? 0, latencyMs: m[LOAD_KEYS.latencyMs] ?? 0 };
}

/** The endpoint as routing should see it after an operator override: drain → DRAINING, weight replaced. */
export function applyOverride(ep: ClusterEndpoint, o: EndpointOverride | undefined): ClusterEndpoint {
  if (!o || (!o.drain && o.weight === undefined)) return ep;
  return { ...ep, health: o.drain ? 'DRAINING' : ep.health, weight: o.weight ?? ep.weight };
}

/** 32-bit FNV-1a of a string, mixed (murmur3 fmix32) so nearby ids spread; rendezvous hashing combines these. */
export function hashString(s: string): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < s.length; i++) h = Math.imul(h ^ s.charCodeAt(i), 0x01000193);
  return fmix32(h);
}

/** murmur3's 32-bit finalizer: every input bit affects every output bit. */
export function fmix32(x: number): number {
  let h = x >>> 0;
  h = Math.imul(h ^ (h >>> 16), 0x85ebca6b);
  h = Math.imul(h ^ (h >>> 13), 0xc2b2ae35);
  return (h ^ (h >>> 16)) >>> 0;
}

/** Mutable per-endpoint routing state. */
export class EndpointState {
  /** Outlier state, written by the cluster's detector. */
  readonly outlier = new OutlierRecord();
  /** In-flight cap; its count is this balancer's in-flight calls to the endpoint. */
  readonly breaker: EndpointBreaker;
  /** Latency estimate (ms). */
  readonly latency: LatencyEstimator;
  /** Hash of the endpoint id, for rendezvous hashing (ids are stable across UPDATEs). */
  readonly idHash: number;
  private ep: ClusterEndpoint;
  private report: ReportedLoad | undefined;
  private readonly clock: Clock;
  private readonly detector: OutlierDetector<EndpointState>;
  private readonly observer: EndpointObserver | undefined;
  private reportDueAt = 0;
  /** Calls (not pinned streams) in flight, and the sum of their start times: their mean age in O(1). */
  private timed = 0;
  private startSum = 0;

  constructor(endpoint: ClusterEndpoint, opts: EndpointStateOptions) {
    this.ep = endpoint;
    this.clock = opts.clock;
    this.detector = opts.detector;
    this.observer = opts.observer;
    this.breaker = new EndpointBreaker(opts.breaker.max_in_flight);
    this.latency = opts.estimator(opts.clock.now());
    this.idHash = hashString(endpoint.id);
    opts.detector.add(this);
  }

  /** Discovery's view of the endpoint (after operator overrides). */
  get endpoint(): ClusterEndpoint {
    return this.ep;
  }

  /** This balancer's calls to the endpoint now. */
  get inFlight(): number {
    return this.breaker.inFlight;
  }

  /** The last load report, if any. */
  get reported(): ReportedLoad | undefined {
    return this.report;
  }

  /** Replaces the endpoint on UPDATE; a changed heartbeat load counts as a report arriving now. */
  update(next: ClusterEndpoint): void {
    const a = this.ep.load;
    const b = next.load;
    const moved = a.queueDepth !== b.queueDepth || a.inFlight !== b.inFlight || a.latencyMs !== b.latencyMs;
    this.ep = next;
    // Heartbeats publish only on movement (discovery/server/load-change.ts), so an unchanged load says nothing about now.
    if (moved) this.onLoadReport(b);
  }

  /** Records a load report (ORCA trailer or heartbeat) as of now. */
  onLoadReport(load: LoadSummary): void {
    this.report = { queueDepth: load.queueDepth, inFlight: load.inFlight, latencyMs: load.latencyMs, at: this.clock.now() };
  }

  /** Queue depth the sidecar last reported, or 0 when that report is older than maxAgeMs (or absent). */
  queueDepth(now: number, maxAgeMs: number): number {
    const r = this.report;
    return r && now - r.at <= maxAgeMs ? r.queueDepth : 0;
  }

  /**
   * In-flight requests at the endpoint from every balancer: the sidecar's
   * figure while fresh, else this balancer's own count (zone spillover).
   */
  loadInFlight(now: number, maxAgeMs: number): number {
    const r = this.report;
    return r && now - r.at <= maxAgeMs ? r.inFlight : this.breaker.inFlight;
  }

  /**
   * True at most once per LOAD_REPORT_EVERY_MS: the caller should send this call as a unary
   * call, whose trailer carries the sidecar's load report. Calls on shared upstream streams
   * carry none (HTTP/2 has no per-message trailers), so one call in a while refreshes it.
   */
  wantsLoadReport(now: number): boolean {
    if (now < this.reportDueAt) return false;
    this.reportDueAt = now + LOAD_REPORT_EVERY_MS;
    return true;
  }

  /**
   * Takes an in-flight slot before a call is sent; false when the breaker is full (pick
   * another endpoint). startedAt: the call's start on the clock, given for calls (their age
   * counts in inFlightAge and onCallEnded must get the same figure) and left out for pinned
   * streams, whose length is the client's choice.
   */
  tryStart(startedAt?: number): boolean {
    if (!this.breaker.tryAcquire()) return false;
    if (startedAt !== undefined) {
      this.timed++;
      this.startSum += startedAt;
    }
    this.observer?.started();
    return true;
  }

  /** This balancer's calls (not pinned streams) in flight to the endpoint. */
  get callsInFlight(): number {
    return this.timed;
  }

  /** Mean age (ms) of the calls in flight to the endpoint now; 0 with none. */
  inFlightAge(now: number): number {
    return this.timed > 0 ? now - this.startSum / this.timed : 0;
  }

  /**
   * Ends a call that tryStart(startedAt) admitted, once, with its final status and the load
   * in its ORCA trailer.
   */
  onCallEnded(status: Status, startedAt: number, report?: LoadSummary): void {
    const now = this.clock.now();
    const latencyMs = now - startedAt;
    this.breaker.release();
    // The same figures tryStart added: the sum returns to exactly 0 with the last call. (A slot
    // taken without a start time has none to take back.)
    if (this.timed > 0) {
      if (--this.timed === 0) this.startSum = 0;
      else this.startSum -= startedAt;
    }
    this.observer?.ended(latencyMs);
    this.latency.observe(latencyMs, outcomeOf(status), now);
    if (report) this.onLoadReport(report);
    this.detector.record(this, status);
  }

  /**
   * Ends a per_stream client stream that tryStart() admitted, once. Its
   * length says nothing about the endpoint's speed, so the latency estimate
   * is left alone; its status still counts for outlier detection, except a deadline or cancel.
   */
  onStreamEnded(status: Status, report?: LoadSummary): void {
    this.breaker.release();
    if (report) this.onLoadReport(report);
    // A stream's deadline or cancel is the client's choice of how long to keep it, not the endpoint failing.
    if (status !== Status.DEADLINE_EXCEEDED && status !== Status.CANCELLED) this.detector.record(this, status);
  }

  /** Leaves the cluster's detector and typical latency (on REMOVE); calls still in flight may end afterwards. */
  close(): void {
    this.detector.remove(this);
    this.latency.close();
  }
}

/**
 * How a final status counts for the latency estimate: the endpoint's own failures
 * ('failed'), or the caller's doing and deadlines ('neutral': a deadline says only that the
 * call took at least that long, a bad request that validation is fast).
 */
export function outcomeOf(status: Status): CallOutcome {
  switch (status) {
    case Status.OK:
      return 'ok';
    case Status.UNAVAILABLE:
    case Status.INTERNAL:
    case Status.UNKNOWN:
    case Status.RESOURCE_EXHAUSTED:
    case Status.DATA_LOSS:
      return 'failed';
    default:
      return 'neutral';
  }
}
