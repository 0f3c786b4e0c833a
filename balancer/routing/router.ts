// The per-call flow: route (objective or model, version split) → candidates
// → pick → send with the remaining deadline → on failure, retry on another
// endpoint within the retry budget. Every attempt that got an in-flight slot
// ends in exactly one onCallEnded, which feeds the latency estimate, the
// load report and the outlier detector.
import type * as grpc from '@grpc/grpc-js';
import type { Clock, Random } from '../../common/clock';
import { Status } from '../../protocol/status';
import { resolveModel, resolveObjective } from '../../routing-config/parse';
import { DEFAULT_POLICY } from '../../routing-config/policy';
import type { Route, RoutingConfig, RoutingPolicy, StreamRouting } from '../../routing-config/types';
import type { Clusters } from './clusters';
import type { EndpointState } from './endpoint-state';
import { peekParameter } from './peek-request';
import type { PinnedRoute, RepinOptions, RouteCall, RouteOutcome } from './route-call';
import { pinLeg } from './pin-stream';
import { fail, hasUntried, orcaLoad, pick, withRoute } from './route-pick';
import { metricFor } from './load/load-metric';
import { UNKNOWN_MODEL, type BalancerMetrics, type RouteMetrics } from '../metrics/metrics';
import { PickerCache } from './pick';
import { RetryBudget } from './retry-budget';
import { streamKeyOf } from '../upstream/pool';
import { INFER_METHODS, type CancelFn, type UpstreamMethod, type UpstreamResult } from '../upstream/types';
import { VersionSplitter } from './version-split';

export { withRoute } from './route-pick';

/** What one route (model or objective) keeps across calls; rebuilt on config change. */
interface RouteState {
  readonly route: Route;
  readonly policy: RoutingPolicy;
  readonly splitter: VersionSplitter;
  readonly cache: PickerCache;
  readonly budget: RetryBudget;
  /** Metric children for this route's model; absent without metrics. */
  readonly metrics: RouteMetrics | undefined;
}

/** A route's retry budget as /status shows it. */
export interface RouteBudgetStatus {
  /** 'm:<model>' or 'o:<objective>'. */
  readonly route: string;
  readonly model: string;
  readonly activeCalls: number;
  readonly activeRetries: number;
  /** Retries allowed in flight now. */
  readonly retryLimit: number;
}

/** Routes calls over the clusters. */
export class Router {
  private config: RoutingConfig | undefined;
  private routes = new Map<string, RouteState>();
  private retries = 0;
  /** Calls for models without a cluster (unknown, or forgotten) share one label set (see UNKNOWN_MODEL). */
  private readonly unknownModel: RouteMetrics | undefined;

  constructor(
    private readonly clusters: Clusters,
    private readonly clock: Clock,
    private readonly random: Random,
    private readonly metrics?: BalancerMetrics,
  ) {
    this.unknownModel = metrics?.route(UNKNOWN_MODEL);
  }

  /** Applies a new routing config; per-route state (splits, pickers, budgets) starts afresh. */
  setConfig(config: RoutingConfig | undefined): void {
    this.config = config;
    this.routes = new Map();
  }

  /** Retry attempts made since start (for metrics and tests). */
  get retriesTotal(): number {
    return this.retries;
  }

  /** Every route's retry budget now. */
  budgets(): RouteBudgetStatus[] {
    return [...this.routes].map(([route, s]) => ({
      route,
      model: s.route.model,
      activeCalls: s.budget.activeCalls,
      activeRetries: s.budget.activeRetries,
      retryLimit: s.budget.limit(),
    }));
  }

  /** Routes a ModelInfer call; done is called exactly once. Returns a cancel function. */
  infer(call: RouteCall, done: (o: RouteOutcome) => void): CancelFn {
    const rs = this.routeOf(call);
    if (!rs) {
      this.unknownModel?.finished('', '', Status.NOT_FOUND, 0);
      return fail(done, Status.NOT_FOUND, `unknown objective '${call.objective}'`);
    }
    const version = rs.splitter.choose(call.version);
    const bytes = withRoute(call.bytes, call.model, call.version, rs.route.model, version ?? '');
    const shadow = rs.splitter.shadow(version);
    if (shadow !== undefined) this.shadowCopy(rs, call, shadow);
    return this.send(
      rs,
      INFER_METHODS.infer,
      bytes,
      version,
      this.shardKey(rs.policy, call),
      call.metadata,
      call.streamKey,
      call.deadline,
      done,
    );
  }

  /** How a client stream whose first message is call is balanced (its route's stream_routing). */
  streamRouting(call: RouteCall): StreamRouting {
    return this.routeOf(call)?.policy.stream_routing ?? 'per_message';
  }

  /**
   * The endpoint a per_stream stream's next leg goes to (pin-stream.ts), picked as a call's first
   * attempt is and holding one in-flight slot for the leg's life; the first message (call) chooses
   * route and version for the whole stream (a re-pin passes the version back). No shadow copies.
   */
  pinStream(call: RouteCall, repin?: RepinOptions): PinnedRoute | RouteOutcome {
    const rs = this.routeOf(call);
    if (!rs) return { code: Status.NOT_FOUND, details: `unknown objective '${call.objective}'` };
    const model = rs.route.model;
    return pinLeg({
      clusters: this.clusters,
      clock: this.clock,
      model,
      callModel: call.model,
      callVersion: call.version,
      version: repin ? repin.version : (rs.splitter.choose(call.version) ?? ''),
      rs,
      rm: this.clusters.get(model) ? rs.metrics : this.unknownModel,
      shardKey: this.shardKey(rs.policy, call),
      deadline: call.deadline,
      maxRetries: rs.policy.retry.max_retries,
      repin,
    });
  }

  /** Forwards a model-level call (ModelReady, ModelMetadata) to an endpoint serving the model. */
  forward(method: UpstreamMethod, call: RouteCall, done: (o: RouteOutcome) => void): CancelFn {
    return this.send(
      this.modelState(call.model),
      method,
      call.bytes,
      call.version || undefined,
      undefined,
      call.metadata,
      undefined,
      call.deadline,
      done,
    );
  }

  private send(
    rs: RouteState,
    method: UpstreamMethod,
    bytes: Buffer,
    version: string | undefined,
    shardKey: string | undefined,
    md: grpc.Metadata,
    streamKey: string | undefined,
    deadline: number,
    done: (o: RouteOutcome) => void,
  ): CancelFn {
    const model = rs.route.model;
    const cluster = this.clusters.get(model);
    const callStart = this.clock.now();
    const rm = cluster ? rs.metrics : this.unknownModel;
    // The last endpoint tried labels the call's outcome ('' when none was).
    let endpoint = '';
    // Every outcome of this call passes here once: the one place it is counted.
    const end = (o: RouteOutcome) => {
      rm?.finished(version ?? '', endpoint, o.code, this.clock.now() - callStart);
      done(o);
    };
    // Unknown model: NOT_FOUND; known without an endpoint now: UNAVAILABLE (Clusters.noEndpoint).
    if (!cluster || cluster.members.size === 0) {
      const why = this.clusters.noEndpoint(model);
      return fail(end, why.code, why.details);
    }
    // An expired request is not sent: the client has stopped waiting.
    if (callStart >= deadline) return fail(end, Status.DEADLINE_EXCEEDED, `deadline expired before model '${model}' was called`);
    const { budget, policy } = rs;
    budget.callStarted();
    const tried: EndpointState[] = [];
    let retriesDone = 0;
    let refusedRetries = 0;
    let holdingRetry = false;
    let finished = false;
    let cancelAttempt: CancelFn | undefined;
    const finish = (o: RouteOutcome) => {
      if (finished) return;
      finished = true;
      budget.callEnded();
      end(o);
    };
    const attempt = (): void => {
      const now = this.clock.now();
      if (now >= deadline) return finish({ code: Status.DEADLINE_EXCEEDED, details: `deadline expired while calling model '${model}'` });
      const picked = pick(cluster, rs, version, shardKey, tried, now);
      if (typeof picked === 'string') return finish({ code: Status.UNAVAILABLE, details: picked });
      const start = now;
      const member = cluster.byState.get(picked);
      if (!member) {
        picked.onCallEnded(Status.UNAVAILABLE, start);
        return finish({ code: Status.UNAVAILABLE, details: `endpoint of model '${model}' left` });
      }
      endpoint = member.raw.address;
      const perTry = policy.retry.per_try_timeout_ms;
      const dl = perTry > 0 ? Math.min(deadline, start + perTry) : deadline;
      const ended = (r: UpstreamResult): void => {
        cancelAttempt = undefined;
        picked.onCallEnded(r.code, start, r.orca ? orcaLoad(r.orca) : undefined);
        if (holdingRetry) {
          budget.retryEnded();
          holdingRetry = false;
        }
        if (finished || r.code === Status.OK) return finish({ code: r.code, details: r.details, response: r.response });
        // Refused (the sidecar never processed it, RFC 9113 §8.7): always safe to send elsewhere, so it
        // is retried outside the budget and apart from max_retries, bounded another way: each endpoint
        // at most once, and at most max(1, max_retries) such retries per call. The budget guards sidecars
        // against doing work twice under overload; a refused call did none (a drain's GOAWAY, a stream
        // limit reached). The attempt still counts as UNAVAILABLE for the endpoint (above).
        if (r.refused && refusedRetries < Math.max(1, policy.retry.max_retries)) {
          tried.push(picked);
          if (hasUntried(cluster, rs, version, shardKey, tried, this.clock.now())) {
            refusedRetries++;
            this.retries++;
            rs.metrics?.retried('refused');
            return attempt();
          }
          tried.pop(); // every candidate refused it: what follows decides as for any connection failure
        }
        const d = budget.decide(retriesDone, r.code, r.connectionFailure);
        if (d.retry) holdingRetry = true;
        // A dropped connection fails every call on it at once, more than the
        // budget's floor; those calls never reached a handler's answer, and
        // one endpoint's death cannot snowball, so each gets one retry anyway.
        else if (!(d.reason === 'budget' && r.connectionFailure && retriesDone === 0)) return finish(r);
        tried.push(picked);
        retriesDone++;
        this.retries++;
        rs.metrics?.retried(r.connectionFailure ? 'connection_failure' : Status[r.code]);
        attempt();
      };
      // ModelInfer goes as a message on a shared upstream stream (~10 us of CPU against ~50 us for a
      // new HTTP/2 stream per call, bench:cost) unless it carries a deadline, which only a unary
      // call hands to the sidecar (grpc-timeout), or the endpoint's load report is due. Retries go
      // unary: when a stream fails, every message on it is retried, and a message that broke it
      // (one the sidecar cannot decode) then fails on its own instead of breaking another stream.
      const viaStream =
        method === INFER_METHODS.infer &&
        tried.length === 0 &&
        (streamKey !== undefined || !Number.isFinite(dl)) &&
        !picked.wantsLoadReport(start);
      cancelAttempt = viaStream
        ? member.pool.stream(streamKey ?? streamKeyOf(md), bytes, md, dl, ended)
        : member.pool.call(method, bytes, md, dl, ended);
    };
    attempt();
    return () => {
      cancelAttempt?.();
      finish({ code: Status.CANCELLED, details: 'cancelled by the client' });
    };
  }

  /** Sends a copy of the call to the shadow version; the answer is discarded and nothing is retried. */
  private shadowCopy(rs: RouteState, call: RouteCall, version: string): void {
    const cluster = this.clusters.get(rs.route.model);
    if (!cluster) return;
    const start = this.clock.now();
    const picked = pick(cluster, rs, version, undefined, [], start);
    if (typeof picked === 'string') return;
    const member = cluster.byState.get(picked);
    if (!member) return picked.onCallEnded(Status.UNAVAILABLE, start);
    const bytes = withRoute(call.bytes, call.model, call.version, rs.route.model, version);
    member.pool.call(INFER_METHODS.infer, bytes, call.metadata, call.deadline, (r) =>
      picked.onCallEnded(r.code, start, r.orca ? orcaLoad(r.orca) : undefined),
    );
  }

  /** The call's shard key: a header, or a request parameter read from the bytes without decoding the tensors. */
  private shardKey(policy: RoutingPolicy, call: RouteCall): string | undefined {
    const shard = policy.shard;
    if (!shard) return undefined;
    if (shard.from === 'parameter') {
      try {
        return peekParameter(call.bytes, shard.key);
      } catch {
        return undefined; // the sidecar rejects malformed requests with a precise status; routing needs no key for that
      }
    }
    const v = call.metadata.get(shard.key)[0];
    return v === undefined ? undefined : String(v);
  }

  /** The route state of a call: its objective's, else its model's; undefined for an unknown objective. */
  private routeOf(call: RouteCall): RouteState | undefined {
    if (!call.objective) return this.modelState(call.model);
    const objective = this.config && resolveObjective(this.config, call.objective);
    return objective ? this.state(`o:${call.objective}`, objective) : undefined;
  }

  private modelState(model: string): RouteState {
    const route = this.config ? resolveModel(this.config, model) : { model, policy: DEFAULT_POLICY };
    return this.state(`m:${model}`, route);
  }

  private state(key: string, route: Route): RouteState {
    let s = this.routes.get(key);
    if (!s) {
      const p = route.policy;
      s = {
        route,
        policy: p,
        splitter: new VersionSplitter(route, this.random),
        cache: new PickerCache(p.picker, {
          clock: this.clock,
          random: this.random,
          metric: metricFor(p.p2c),
          choiceCount: p.p2c.choice_count,
        }),
        budget: new RetryBudget(p.retry),
        metrics: this.metrics?.route(route.model),
      };
      this.routes.set(key, s);
    }
    return s;
  }
}
