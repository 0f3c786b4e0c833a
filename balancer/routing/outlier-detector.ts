// Passive outlier detection, Envoy's consecutive-5xx rule, for one model
// cluster: consecutive failed calls eject an endpoint for
// base_ejection_ms × (times ejected), capped at max_ejection_ms; a timer on
// the injected clock returns it. Ejections and returns are reported to a
// listener, which rebuilds the cluster's candidate snapshot.
//
// Which statuses count (isOutlierFailure): UNAVAILABLE (includes connection
// failures), INTERNAL, UNKNOWN and DEADLINE_EXCEEDED: the ones a gateway
// maps to 5xx because the server, not the caller, went wrong. Caller errors
// (INVALID_ARGUMENT, NOT_FOUND, ...) reset the run like successes: the
// endpoint answered properly. RESOURCE_EXHAUSTED does not count: it is a
// full queue, i.e. load, which P2C already steers away from; ejecting busy
// endpoints would pile their load onto the rest. DEADLINE_EXCEEDED counts
// because a wedged endpoint shows up as nothing but timeouts; a client with
// deadlines far below the model's latency can therefore eject healthy
// endpoints, which max_ejection_percent bounds.
//
// The cap (Envoy's rule, outlier_detection_impl.cc ejectHost, also gRFC A50
// and grpc-java #9489): an endpoint is ejected only while the share already
// ejected is below max_ejection_percent. So any percent > 0 always allows
// one ejection, even in a 3-endpoint cluster at 10 %, and the share may end
// one endpoint above the cap; 0 never ejects. Newer Envoy releases check
// (ejected + 1) and make the one-host floor opt-in (always_eject_one_host);
// we keep the long-standing rule because a sick endpoint in a small cluster
// is the common case here. A run that reaches the threshold while the cap is
// reached keeps counting, and the next failure after room frees ejects it.
//
// Envoy lowers the ejection multiplier by one at each interval sweep the
// endpoint spends in service; we compute the same decrement when the next
// ejection happens (elapsed in service / interval_ms), so no sweep timer runs.
import type { Clock, TimerHandle } from '../../common/clock';
import { Status } from '../../protocol/status';
import type { OutlierDetectionConfig } from '../../routing-config/types';

/** True for statuses that count toward an ejection (see the header). */
export function isOutlierFailure(code: Status): boolean {
  return code === Status.UNAVAILABLE || code === Status.INTERNAL || code === Status.UNKNOWN || code === Status.DEADLINE_EXCEEDED;
}

/** One endpoint's outlier state; written only by its cluster's OutlierDetector. */
export class OutlierRecord {
  /** Failures since the last non-failure (or the last return). */
  consecutiveFailures = 0;
  /** The ejection multiplier: ejections not yet decayed by time in service. */
  ejections = 0;
  /** True while ejected. */
  ejected = false;
  /** Clock time the current ejection ends (meaningful while ejected). */
  ejectedUntil = 0;
  /** Clock time of the last return to service (or of joining). */
  inSince = 0;
  /** Return timer of the current ejection. */
  timer: TimerHandle | undefined;
}

/** What the detector tracks: anything carrying an OutlierRecord (an EndpointState). */
export interface OutlierMember {
  /** The member's outlier state. */
  readonly outlier: OutlierRecord;
}

/** A change the detector reports. */
export type OutlierEvent = 'ejected' | 'returned';

/** Consecutive-failure ejection for one cluster, on an injected clock. */
export class OutlierDetector<M extends OutlierMember> {
  private readonly members = new Set<M>();
  private active = 0;
  private listener: ((m: M, e: OutlierEvent) => void) | undefined;

  constructor(
    private config: OutlierDetectionConfig,
    private readonly clock: Clock,
  ) {}

  /** Starts tracking an endpoint (on INSERT); it counts toward max_ejection_percent from now. */
  add(m: M): void {
    this.members.add(m);
    m.outlier.inSince = this.clock.now();
  }

  /** Stops tracking an endpoint (on REMOVE) and cancels its return timer; no event is sent. */
  remove(m: M): void {
    if (!this.members.delete(m)) return;
    const r = m.outlier;
    if (r.ejected) {
      this.active--;
      r.ejected = false;
    }
    if (r.timer !== undefined) this.clock.clearTimeout(r.timer);
    r.timer = undefined;
  }

  /** Records one call's final status; returns true when it ejected the endpoint. */
  record(m: M, code: Status): boolean {
    const r = m.outlier;
    // Calls that were in flight when it was ejected say nothing new.
    if (r.ejected || !this.members.has(m)) return false;
    if (!isOutlierFailure(code)) {
      r.consecutiveFailures = 0;
      return false;
    }
    r.consecutiveFailures++;
    const threshold = this.config.consecutive_failures;
    if (threshold === 0 || r.consecutiveFailures < threshold || !this.roomToEject()) return false;
    this.eject(m);
    return true;
  }

  /** Endpoints ejected now. */
  get ejectedCount(): number {
    return this.active;
  }

  /** Calls fn after every ejection and return (one listener: the cluster that owns the snapshot). */
  onChange(fn: (m: M, e: OutlierEvent) => void): void {
    this.listener = fn;
  }

  /** Applies a reloaded config; ejections under way keep their end time. */
  setConfig(config: OutlierDetectionConfig): void {
    this.config = config;
  }

  /** Cancels every return timer (shutdown); ejected endpoints stay ejected. */
  close(): void {
    for (const m of this.members) {
      if (m.outlier.timer !== undefined) this.clock.clearTimeout(m.outlier.timer);
      m.outlier.timer = undefined;
    }
  }

  /** Envoy's cap: the share ejected before this ejection must be below the percent. */
  private roomToEject(): boolean {
    return this.active * 100 < this.config.max_ejection_percent * this.members.size;
  }

  private eject(m: M): void {
    const r = m.outlier;
    const c = this.config;
    const now = this.clock.now();
    const decayed = Math.floor((now - r.inSince) / c.interval_ms);
    r.ejections = Math.max(0, r.ejections - decayed) + 1;
    const ms = Math.min(c.base_ejection_ms * r.ejections, c.max_ejection_ms);
    r.ejected = true;
    r.ejectedUntil = now + ms;
    r.consecutiveFailures = 0;
    this.active++;
    r.timer = this.clock.setTimeout(() => this.return(m), ms);
    this.listener?.(m, 'ejected');
  }

  private return(m: M): void {
    const r = m.outlier;
    r.timer = undefined;
    if (!r.ejected) return;
    r.ejected = false;
    r.consecutiveFailures = 0;
    r.inSince = this.clock.now();
    this.active--;
    this.listener?.(m, 'returned');
  }
}
