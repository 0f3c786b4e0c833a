// Pinning a per_stream client stream to an endpoint (Router.pinStream), one
// leg at a time: the first message's pick, then a re-pin whenever the leg's
// endpoint drains or fails (balancer/front/stream-pinned.ts). A leg holds one
// in-flight slot for its life, as a call does. Re-pins keep the version the
// first pick chose, so a split applies to the whole stream, and avoid the
// endpoints the stream is leaving.
import type { Clock } from '../../common/clock';
import { Status } from '../../protocol/status';
import type { Clusters } from './clusters';
import type { ModelCluster } from './cluster';
import type { EndpointState } from './endpoint-state';
import type { PinnedRoute, RepinOptions, RouteOutcome } from './route-call';
import { orcaLoad, pick, type PickRoute } from './route-pick';
import type { RouteMetrics } from '../metrics/metrics';

/** What pinning needs of the router for one stream. */
export interface PinRequest {
  readonly clusters: Clusters;
  readonly clock: Clock;
  /** The route's model, as the stream's first message resolved it. */
  readonly model: string;
  /** The model the messages name, and their version ('' when none): a difference is rewritten. */
  readonly callModel: string;
  readonly callVersion: string;
  /** The version the stream goes to ('' for any). */
  readonly version: string;
  readonly rs: PickRoute;
  readonly rm: RouteMetrics | undefined;
  readonly shardKey: string | undefined;
  readonly deadline: number;
  readonly maxRetries: number;
  readonly repin: RepinOptions | undefined;
}

/** A leg's endpoint with its slot taken, or why there is none (counted as the stream's outcome). */
export function pinLeg(q: PinRequest): PinnedRoute | RouteOutcome {
  const { clusters, clock, model, version, rm } = q;
  const cluster = clusters.get(model);
  const refuse = (code: Status, details: string): RouteOutcome => {
    rm?.counted(version, '', code);
    return { code, details };
  };
  if (!cluster || cluster.members.size === 0) {
    const why = clusters.noEndpoint(model);
    return refuse(why.code, why.details);
  }
  const now = clock.now();
  if (now >= q.deadline) return refuse(Status.DEADLINE_EXCEEDED, `deadline expired before model '${model}' was called`);
  const picked = pick(cluster, q.rs, version || undefined, q.shardKey, avoided(cluster, q.repin), now, 'stream');
  if (typeof picked === 'string') return refuse(Status.UNAVAILABLE, picked);
  const member = cluster.byState.get(picked);
  if (!member) {
    picked.onStreamEnded(Status.UNAVAILABLE, undefined);
    return refuse(Status.UNAVAILABLE, `endpoint of model '${model}' left`);
  }
  const endpoint = member.raw.address;
  const id = member.raw.id;
  let ended = false;
  return {
    pool: member.pool,
    endpoint,
    id,
    version,
    rewrite: model !== q.callModel || version !== q.callVersion ? { model, version } : undefined,
    maxReplays: Math.max(1, q.maxRetries),
    // By id, not by state: a policy change rebuilds every endpoint's state without the endpoint leaving.
    draining: () => {
      const m = clusters.get(model)?.members.get(id);
      return !m || m.state.endpoint.health === 'DRAINING';
    },
    onViewChange: (cb) => clusters.onChange(cb),
    ended: (code, orca) => {
      if (ended) return;
      ended = true;
      picked.onStreamEnded(code, orca ? orcaLoad(orca) : undefined);
      rm?.counted(version, endpoint, code);
    },
  };
}

/** The states of the endpoints a re-pin avoids (pick() ignores the list when it covers every candidate). */
function avoided(cluster: ModelCluster, repin: RepinOptions | undefined): EndpointState[] {
  if (!repin || repin.avoid.length === 0) return [];
  const out: EndpointState[] = [];
  for (const id of repin.avoid) {
    const m = cluster.members.get(id);
    if (m) out.push(m.state);
  }
  return out;
}
