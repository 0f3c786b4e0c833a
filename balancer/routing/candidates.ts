// The endpoints one request may go to, in two steps:
//
// 1. ClusterSnapshot.build (when membership, health, versions, zone, weight
//    or an ejection changes): per version, the endpoints serving it minus
//    DRAINING ones; those usable (HEALTHY, not ejected); the usable ones in
//    the balancer's zone; and whether the cluster is in panic. Envoy's panic
//    threshold: when usable endpoints are below panic_threshold_percent of
//    the non-draining ones, health and ejections are ignored and every
//    non-draining endpoint is a candidate, because a few survivors taking
//    all the load would fail too. Draining stays excluded even then: it is
//    the operator's decision, not a health signal.
//
// 2. select (per call): reads the snapshot, applies what changes call by
//    call: breaker-full endpoints are skipped (the in-flight cap is a hard
//    limit, panic or not); zone affinity keeps calls in the local zone while
//    its mean in-flight per usable endpoint is at most spillover_in_flight
//    (the sidecar's reported figure while fresh, else this balancer's own);
//    a shard key narrows the list to subset_size endpoints by rendezvous
//    (highest-random-weight) hashing: each endpoint scores hash(key, id) and
//    the top subset_size win. Rendezvous needs no ring and no virtual nodes,
//    and a membership change moves only the keys whose subset held the
//    endpoint that left (each by one member). Sharded calls skip zone
//    affinity, so a key's subset does not move with load; zone affinity is
//    also off in panic (as in Envoy).
//
// Common calls allocate nothing: the snapshot's lists and results are reused
// (stable: true, so pickers can be cached per list); shard subsets and lists
// without full endpoints are built per call.
import type { OutlierDetectionConfig, P2cConfig, ShardConfig, ZoneAffinityConfig } from '../../routing-config/types';
import type { ClusterEndpoint } from '../../discovery/types';
import { fmix32, hashString, type EndpointState } from './endpoint-state';

/** Per-call inputs. */
export interface CandidateRequest {
  /** The chosen version (after the split); undefined: any endpoint serving the model. */
  readonly version?: string;
  /** The shard key read from the call, when the policy has one and the call carries it. */
  readonly shardKey?: string;
}

/** The policy sections candidate selection reads (a RoutingPolicy fits). */
export interface CandidatePolicy {
  /** Local-zone preference. */
  readonly zone_affinity: ZoneAffinityConfig;
  /** Shard subsets; absent: none. */
  readonly shard?: ShardConfig;
  /** Only panic_threshold_percent is read, at build time. */
  readonly outlier_detection: Pick<OutlierDetectionConfig, 'panic_threshold_percent'>;
  /** Only queue_depth_max_age_ms is read: how long a reported in-flight figure counts. */
  readonly p2c: Pick<P2cConfig, 'queue_depth_max_age_ms'>;
}

/** The outcome: a non-empty list, or why there is none (the message names the model). */
export type Candidates =
  | {
      readonly kind: 'ok';
      /** Never empty. */
      readonly endpoints: readonly EndpointState[];
      /** True when the list is the snapshot's own (same array on every call): pickers may be cached per list. */
      readonly stable: boolean;
      /** Health and ejections were ignored (panic threshold). */
      readonly panic: boolean;
      /** Zone affinity was on and calls spilled beyond the local zone. */
      readonly spilled: boolean;
    }
  | { readonly kind: 'none'; readonly reason: string };

/** True when an UPDATE changes what a snapshot holds (load-only updates do not). */
export function affectsCandidates(a: ClusterEndpoint, b: ClusterEndpoint): boolean {
  return (
    a.health !== b.health ||
    a.zone !== b.zone ||
    a.weight !== b.weight ||
    a.versions.length !== b.versions.length ||
    a.versions.some((v, i) => v !== b.versions[i])
  );
}

type Ok = Extract<Candidates, { kind: 'ok' }>;

/** One version's precomputed lists. */
interface Group {
  /** Non-draining endpoints serving the version; what panic mode uses. */
  readonly serving: readonly EndpointState[];
  readonly panic: boolean;
  /** The list calls use: usable endpoints, or `serving` in panic. */
  readonly all: Ok | undefined;
  /** Usable endpoints in the balancer's zone (never in panic). */
  readonly local: Ok | undefined;
  readonly localSpilled: Ok | undefined;
  /** Why there are no candidates, when `all` is undefined. */
  readonly reason: string;
}

const ok = (endpoints: readonly EndpointState[], panic: boolean, spilled: boolean): Ok | undefined =>
  endpoints.length > 0 ? { kind: 'ok', endpoints, stable: true, panic, spilled } : undefined;

/** A model cluster's candidate lists, immutable; rebuild it on changes (see affectsCandidates). */
export class ClusterSnapshot {
  private readonly groups = new Map<string, Group>();

  private constructor(
    private readonly model: string,
    private readonly size: number,
  ) {}

  /** Builds the lists; zone: the balancer's zone ('' = none); panicPercent: outlier_detection.panic_threshold_percent. */
  static build(model: string, states: Iterable<EndpointState>, zone: string, panicPercent: number): ClusterSnapshot {
    const list = [...states];
    const snap = new ClusterSnapshot(model, list.length);
    const versions = new Set<string>(['']);
    for (const s of list) for (const v of s.endpoint.versions) versions.add(v);
    for (const v of versions) {
      const members = v === '' ? list : list.filter((s) => s.endpoint.versions.includes(v));
      snap.groups.set(v, group(model, v, members, zone, panicPercent));
    }
    return snap;
  }

  /** Endpoints the snapshot was built from. */
  get endpointCount(): number {
    return this.size;
  }

  /**
   * True when calls for version ('' = any) have candidates, in-flight caps aside: whether the
   * model can be routed at all (readiness, ModelReady), not whether this call finds room.
   */
  routable(version = ''): boolean {
    return this.groups.get(version)?.all !== undefined;
  }

  /** The candidates for one call at clock time now. */
  select(req: CandidateRequest, policy: CandidatePolicy, now: number): Candidates {
    const g = this.groups.get(req.version ?? '');
    if (!g) return { kind: 'none', reason: `no endpoint of model '${this.model}' serves version '${req.version}'` };
    if (!g.all) return { kind: 'none', reason: g.reason };
    if (req.shardKey !== undefined && policy.shard) {
      const base = withoutFull(g.all);
      return base.kind === 'ok' ? shardSubset(base, req.shardKey, policy.shard.subset_size) : this.full();
    }
    const z = policy.zone_affinity;
    if (z.enabled && g.local && meanInFlight(g.local.endpoints, now, policy.p2c.queue_depth_max_age_ms) <= z.spillover_in_flight) {
      const local = withoutFull(g.local);
      if (local.kind === 'ok') return local;
    }
    const all = withoutFull(z.enabled && g.localSpilled ? g.localSpilled : g.all);
    return all.kind === 'ok' ? all : this.full();
  }

  private full(): Candidates {
    return {
      kind: 'none',
      reason: `every candidate endpoint of model '${this.model}' is at its in-flight cap (circuit_breaker.max_in_flight)`,
    };
  }
}

/** A model cluster's candidates minus endpoints already tried by this call; the full list when nothing else is left. */
export function withoutTried(c: Ok, tried: readonly EndpointState[]): Ok {
  if (tried.length === 0) return c;
  const rest = c.endpoints.filter((s) => !tried.includes(s));
  return rest.length === 0 ? c : { ...c, endpoints: rest, stable: false };
}

function group(model: string, version: string, members: readonly EndpointState[], zone: string, panicPercent: number): Group {
  const serving = members.filter((s) => s.endpoint.health !== 'DRAINING');
  const usable = serving.filter((s) => s.endpoint.health === 'HEALTHY' && !s.outlier.ejected);
  const panic = usable.length * 100 < panicPercent * serving.length;
  const local = panic || zone === '' ? [] : usable.filter((s) => s.endpoint.zone === zone);
  const all = panic ? ok(serving, true, false) : ok(usable, false, false);
  const what = version === '' ? `model '${model}'` : `model '${model}' version '${version}'`;
  let reason = `no endpoint of ${what}`;
  if (members.length > 0 && serving.length === 0) reason = `every endpoint of ${what} is draining`;
  else if (serving.length > 0)
    reason = `no healthy endpoint of ${what}: ${serving.filter((s) => s.outlier.ejected).length} ejected, ${serving.filter((s) => s.endpoint.health !== 'HEALTHY').length} unhealthy`;
  return {
    serving,
    panic,
    all,
    local: ok(local, false, false),
    localSpilled: all && local.length > 0 ? { ...all, spilled: true } : undefined,
    reason,
  };
}

/** c itself when no endpoint in it is full; else a fresh list without the full ones (or none). */
function withoutFull(c: Ok): Ok | { kind: 'none' } {
  let full = 0;
  for (const s of c.endpoints) if (s.breaker.isFull()) full++;
  if (full === 0) return c;
  if (full === c.endpoints.length) return { kind: 'none' };
  return { ...c, endpoints: c.endpoints.filter((s) => !s.breaker.isFull()), stable: false };
}

function meanInFlight(list: readonly EndpointState[], now: number, maxAgeMs: number): number {
  let sum = 0;
  for (const s of list) sum += s.loadInFlight(now, maxAgeMs);
  return sum / list.length;
}

/** The subsetSize endpoints with the highest rendezvous score for key (all of them when fewer). */
export function shardSubset(c: Ok, key: string, subsetSize: number): Ok {
  const list = c.endpoints;
  if (list.length <= subsetSize) return c;
  const k = hashString(key);
  const top: EndpointState[] = [];
  const scores: number[] = [];
  for (const s of list) {
    const score = fmix32(k ^ s.idHash);
    if (top.length === subsetSize && score <= scores[subsetSize - 1]) continue;
    // Insertion into a descending top-k: k is a handful, so this beats sorting n scores.
    let i = Math.min(top.length, subsetSize - 1);
    while (i > 0 && scores[i - 1] < score) {
      scores[i] = scores[i - 1];
      top[i] = top[i - 1];
      i--;
    }
    scores[i] = score;
    top[i] = s;
  }
  return { ...c, endpoints: top, stable: false };
}
