// Every model cluster the balancer knows, fed by discovery's changes and by
// the static endpoints of its own routing config, and what it can say about
// a model that has no endpoint now:
//
// - Known: some endpoint lists it now, or the routing config names it
//   (models.<name>, an objective's model, a static endpoint's models), or
//   its last endpoint left less than forgetAfterMs ago. A call for it gets
//   UNAVAILABLE (retryable: a sidecar restarting comes back). Discovery has
//   no "model removed" message apart from its last endpoint leaving, so a
//   cluster left empty is kept for forgetAfterMs (default 5 min, longer than
//   a pod reschedule and model load) and then forgotten: not listed, not
//   counted, and calls for it get NOT_FOUND, as Triton answers for a model
//   that is not in its repository.
// - Unknown: NOT_FOUND naming it, once the view is current (discovery's
//   first snapshot applied, or static endpoints loaded). Before that every
//   model is UNAVAILABLE: the balancer cannot know yet.
import type { Clock, TimerHandle } from '../../common/clock';
import type { Logger } from '../../common/log';
import { Status } from '../../protocol/status';
import type { RoutingConfig } from '../../routing-config/types';
import { effectivePolicy } from '../../routing-config/parse';
import { DEFAULT_POLICY } from '../../routing-config/policy';
import type { ClusterChange } from '../../discovery/types';
import type { BalancerMetrics } from '../metrics/metrics';
import { ModelCluster } from './cluster';
import { logEndpoint, logModelForgotten } from './routing-log';
import type { UpstreamPools } from '../upstream/pool';

/** How long a model whose last endpoint left stays known (UNAVAILABLE) before it is forgotten (NOT_FOUND). */
export const FORGET_MODEL_AFTER_MS = 5 * 60_000;

/** Who reported a change: discovery's watch or the balancer's own routing config (static endpoints). */
export type ChangeSource = 'discovery' | 'config';

/** Every model cluster, fed by discovery's changes and the static endpoints. */
export class Clusters {
  /** Keyed by model: every model some endpoint lists, plus those whose last endpoint left within forgetAfterMs. */
  readonly byModel = new Map<string, ModelCluster>();
  private config: RoutingConfig | undefined;
  /** Models the routing config names. */
  private named = new Set<string>();
  private viewCurrent = false;
  private readonly forgetTimers = new Map<string, TimerHandle>();
  private readonly listeners = new Set<() => void>();

  constructor(
    private readonly pools: UpstreamPools,
    private readonly zone: string,
    private readonly clock: Clock,
    private readonly log: Logger,
    private readonly metrics?: BalancerMetrics,
    private readonly forgetAfterMs = FORGET_MODEL_AFTER_MS,
  ) {}

  /** The upstream pools (for connection counts). */
  get upstream(): UpstreamPools {
    return this.pools;
  }

  /** True once the view is current: discovery's first snapshot applied, or static endpoints loaded. */
  get current(): boolean {
    return this.viewCurrent;
  }

  /** Marks the view current (it stays so: a view kept while discovery is away is still the best there is). */
  markCurrent(): void {
    if (this.viewCurrent) return;
    this.viewCurrent = true;
    this.changed();
  }

  /** Calls fn after any change that may move readiness (a snapshot rebuilt, a model forgotten, the view current); returns the unsubscriber. */
  onChange(fn: () => void): () => void {
    this.listeners.add(fn);
    return () => this.listeners.delete(fn);
  }

  /** Applies endpoint changes in order; each INSERT and REMOVE logs one line. */
  apply(changes: readonly ClusterChange[], source: ChangeSource = 'discovery'): void {
    for (const ch of changes) {
      const model = ch.cluster;
      if (ch.type === 'REMOVE') {
        const c = this.byModel.get(model);
        if (!c?.members.has(ch.endpoint.id)) continue;
        c.remove(ch.endpoint.id, this.pools);
        logEndpoint(this.log, 'endpoint_removed', model, ch.endpoint, `${source} removed it`);
        if (c.members.size === 0) this.forgetLater(model);
        continue;
      }
      this.keep(model);
      const c = this.cluster(model);
      if (ch.type === 'UPDATE' && c.members.has(ch.endpoint.id)) {
        c.update(ch.endpoint, this.config, this.pools, source);
      } else {
        c.insert(ch.endpoint, this.config, this.pools);
        logEndpoint(this.log, 'endpoint_added', model, ch.endpoint, `${source} listed it (${ch.endpoint.health})`);
      }
    }
  }

  /** Applies a new routing config (undefined: none, the built-in policy). */
  setConfig(config: RoutingConfig | undefined): void {
    this.config = config;
    this.named = config ? namedModels(config) : new Set();
    for (const c of this.byModel.values()) c.reconfigure(config);
  }

  /** The model's cluster, if it is known by endpoints (see the file comment). */
  get(model: string): ModelCluster | undefined {
    return this.byModel.get(model);
  }

  /** True when the model is known: by endpoints (now or within forgetAfterMs) or by the routing config. */
  knows(model: string): boolean {
    return this.byModel.has(model) || this.named.has(model);
  }

  /** What a call for a model without a cluster member gets: NOT_FOUND when unknown, else UNAVAILABLE; the message names it. */
  noEndpoint(model: string): { readonly code: Status; readonly details: string } {
    if (!this.viewCurrent)
      return {
        code: Status.UNAVAILABLE,
        details: `no endpoint serves model '${model}' yet: the balancer has no view of the endpoints yet`,
      };
    if (this.knows(model)) return { code: Status.UNAVAILABLE, details: `no endpoint serves model '${model}' now` };
    return {
      code: Status.NOT_FOUND,
      details: `unknown model '${model}': no endpoint lists it and the routing config does not name it`,
    };
  }

  /** Closes every cluster and upstream pool. */
  close(): void {
    for (const t of this.forgetTimers.values()) this.clock.clearTimeout(t);
    this.forgetTimers.clear();
    for (const c of this.byModel.values()) c.close(this.pools);
    this.byModel.clear();
    this.pools.close();
  }

  private changed(): void {
    for (const fn of this.listeners) fn();
  }

  /** The cluster is empty: forget it after forgetAfterMs unless an endpoint joins first. */
  private forgetLater(model: string): void {
    this.keep(model);
    const t = this.clock.setTimeout(() => {
      this.forgetTimers.delete(model);
      const c = this.byModel.get(model);
      if (!c || c.members.size > 0) return;
      c.close(this.pools);
      this.byModel.delete(model);
      logModelForgotten(this.log, model, `no endpoint for ${this.forgetAfterMs} ms`);
      this.changed();
    }, this.forgetAfterMs);
    this.clock.unref(t);
    this.forgetTimers.set(model, t);
  }

  /** Cancels a pending forget (an endpoint joined). */
  private keep(model: string): void {
    const t = this.forgetTimers.get(model);
    if (t === undefined) return;
    this.clock.clearTimeout(t);
    this.forgetTimers.delete(model);
  }

  private cluster(model: string): ModelCluster {
    let c = this.byModel.get(model);
    if (!c) {
      const policy = this.config ? effectivePolicy(this.config, model) : DEFAULT_POLICY;
      c = new ModelCluster(model, policy, this.zone, this.clock, this.log, () => this.changed(), this.metrics);
      this.byModel.set(model, c);
    }
    return c;
  }
}

/** Every model the routing config names: configured models, objectives' models and what static endpoints serve. */
function namedModels(config: RoutingConfig): Set<string> {
  const out = new Set(Object.keys(config.models));
  for (const o of Object.values(config.objectives)) out.add(o.model);
  for (const e of config.endpoints) for (const m of e.models) out.add(m.name);
  return out;
}
