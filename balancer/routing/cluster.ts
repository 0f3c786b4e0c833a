// Per-model endpoint state, kept in step with discovery's changes. Each model
// cluster holds one EndpointState per endpoint (so in-flight counts, latency
// estimates and ejections survive UPDATEs), its outlier detector, and an
// immutable ClusterSnapshot rebuilt only when membership, health, zone,
// weight, versions or an ejection change: load-only UPDATEs (every heartbeat)
// leave the snapshot, and so the cached pickers, alone. Each state change
// (membership, health, ejection, breaker) logs one line (routing-log.ts).
import type { Counter } from 'prom-client';
import type { Clock } from '../../common/clock';
import type { Logger } from '../../common/log';
import type { RoutingConfig, RoutingPolicy } from '../../routing-config/types';
import { effectivePolicy } from '../../routing-config/parse';
import { DEFAULT_POLICY } from '../../routing-config/policy';
import type { ClusterEndpoint } from '../../discovery/types';
import { affectsCandidates, ClusterSnapshot } from './candidates';
import { applyOverride, EndpointState } from './endpoint-state';
import type { BalancerMetrics } from '../metrics/metrics';
import { estimatorsFor, type EstimatorFactory } from './load/estimators';
import { OutlierDetector } from './outlier-detector';
import { healthEvent, logEndpoint } from './routing-log';
import type { UpstreamPool, UpstreamPools } from '../upstream/pool';

/** One endpoint of a model cluster: its state and its connections. */
export interface ClusterMember {
  /** Discovery's endpoint as received, before operator overrides. */
  raw: ClusterEndpoint;
  /** The balancer's per-endpoint state. */
  readonly state: EndpointState;
  /** Connections to the endpoint's address (shared across models). */
  readonly pool: UpstreamPool;
}

/** One model's endpoints and candidate snapshot. */
export class ModelCluster {
  /** Keyed by endpoint id. */
  readonly members = new Map<string, ClusterMember>();
  /** Maps a state back to its member (the picker hands back states). */
  readonly byState = new Map<EndpointState, ClusterMember>();
  private snap: ClusterSnapshot;
  private detector: OutlierDetector<EndpointState>;
  /** Latency estimators of this policy, sharing the cluster's typical latency. */
  private estimators: EstimatorFactory;
  private readonly ejections: Counter.Internal | undefined;

  constructor(
    readonly model: string,
    private policy: RoutingPolicy,
    private readonly zone: string,
    private readonly clock: Clock,
    private readonly log: Logger,
    /** Called after every snapshot rebuild (readiness may have changed). */
    private readonly rebuilt: () => void,
    private readonly metrics?: BalancerMetrics,
  ) {
    this.ejections = metrics?.ejections.labels(model);
    this.detector = this.newDetector();
    this.estimators = estimatorsFor(policy.p2c);
    this.snap = ClusterSnapshot.build(model, [], zone, policy.outlier_detection.panic_threshold_percent);
  }

  /** The current candidate snapshot. */
  get snapshot(): ClusterSnapshot {
    return this.snap;
  }

  /** Endpoints ejected by outlier detection now. */
  get ejectedCount(): number {
    return this.detector.ejectedCount;
  }

  /** The policy endpoint state was built with. */
  get currentPolicy(): RoutingPolicy {
    return this.policy;
  }

  /** Adds an endpoint (or replaces one with the same id). */
  insert(ep: ClusterEndpoint, config: RoutingConfig | undefined, pools: UpstreamPools): void {
    if (this.members.has(ep.id)) this.remove(ep.id, pools);
    this.add(ep, pools.acquire(ep.address), config);
    this.rebuild();
  }

  /** Applies a changed endpoint; the snapshot is rebuilt only when candidates change. source: who said so, for the log. */
  update(ep: ClusterEndpoint, config: RoutingConfig | undefined, pools: UpstreamPools, source: string): void {
    const m = this.members.get(ep.id);
    if (!m || m.raw.address !== ep.address) return this.insert(ep, config, pools);
    const before = m.state.endpoint;
    m.raw = ep;
    const o = config?.endpoint_overrides[ep.address];
    m.state.update(applyOverride(ep, o));
    this.logHealth(before, m.state.endpoint, o?.drain ? 'endpoint_overrides drain' : `${source} reports ${ep.health}`);
    if (affectsCandidates(before, m.state.endpoint)) this.rebuild();
  }

  /** Drops an endpoint; calls in flight to it still end normally. */
  remove(id: string, pools: UpstreamPools): void {
    const m = this.members.get(id);
    if (!m) return;
    m.state.close();
    this.members.delete(id);
    this.byState.delete(m.state);
    pools.release(m.raw.address);
    this.rebuild();
  }

  /**
   * Applies a new routing config: overrides are re-applied to every endpoint;
   * a changed policy rebuilds endpoint state (breaker caps and EWMA settings
   * are fixed per state); calls still running end on the old states, which
   * nobody picks any more, so in-flight counts restart from zero.
   */
  reconfigure(config: RoutingConfig | undefined): void {
    const policy = config ? effectivePolicy(config, this.model) : DEFAULT_POLICY;
    const before = new Map([...this.members].map(([id, m]) => [id, m.state.endpoint]));
    if (JSON.stringify(policy) !== JSON.stringify(this.policy)) {
      const old = [...this.members.values()];
      for (const m of old) m.state.close();
      this.detector.close();
      this.policy = policy;
      this.detector = this.newDetector();
      this.estimators = estimatorsFor(policy.p2c);
      this.members.clear();
      this.byState.clear();
      // Same pools: a policy change is no reason to reconnect.
      for (const m of old) this.add(m.raw, m.pool, config);
    } else {
      for (const m of this.members.values()) m.state.update(applyOverride(m.raw, config?.endpoint_overrides[m.raw.address]));
    }
    for (const [id, m] of this.members) this.logHealth(before.get(id)!, m.state.endpoint, 'routing config endpoint_overrides');
    this.rebuild();
  }

  /** Leaves every endpoint and stops the detector's timers. */
  close(pools: UpstreamPools): void {
    for (const id of [...this.members.keys()]) this.remove(id, pools);
    this.detector.close();
  }

  private add(ep: ClusterEndpoint, pool: UpstreamPool, config: RoutingConfig | undefined): void {
    const state = new EndpointState(applyOverride(ep, config?.endpoint_overrides[ep.address]), {
      clock: this.clock,
      estimator: this.estimators,
      breaker: this.policy.circuit_breaker,
      detector: this.detector,
      observer: this.metrics?.endpoint(ep.address),
    });
    const m: ClusterMember = { raw: ep, state, pool };
    this.members.set(ep.id, m);
    this.byState.set(state, m);
    // The breaker reports edges only: one line when the cap is reached, one when a call frees a slot.
    state.breaker.onChange((e) =>
      e === 'full'
        ? logEndpoint(this.log, 'breaker_full', this.model, state.endpoint, `in-flight cap ${state.breaker.max} reached`)
        : logEndpoint(this.log, 'breaker_clear', this.model, state.endpoint, `in-flight calls below the cap ${state.breaker.max}`),
    );
  }

  private newDetector(): OutlierDetector<EndpointState> {
    const od = this.policy.outlier_detection;
    const d = new OutlierDetector<EndpointState>(od, this.clock);
    d.onChange((s, e) => {
      if (e === 'ejected') {
        this.ejections?.inc();
        const ms = Math.round(s.outlier.ejectedUntil - this.clock.now());
        logEndpoint(
          this.log,
          'endpoint_ejected',
          this.model,
          s.endpoint,
          `${od.consecutive_failures} consecutive failures; ejected for ${ms} ms`,
        );
      } else {
        logEndpoint(this.log, 'endpoint_returned', this.model, s.endpoint, 'ejection time over');
      }
      this.rebuild();
    });
    return d;
  }

  /** One line when an endpoint's health as routing sees it (overrides applied) changed. */
  private logHealth(before: ClusterEndpoint, after: ClusterEndpoint, reason: string): void {
    if (before.health !== after.health) logEndpoint(this.log, healthEvent(after.health), this.model, after, reason);
  }

  private rebuild(): void {
    this.snap = ClusterSnapshot.build(
      this.model,
      [...this.members.values()].map((m) => m.state),
      this.zone,
      this.policy.outlier_detection.panic_threshold_percent,
    );
    this.rebuilt();
  }
}
