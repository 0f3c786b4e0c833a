// The watcher's view and how a WatchResponse moves it forward. Views are
// immutable: each message yields a new view that shares every untouched
// cluster with the old one, so a balancer can hold a view (or rebuild its
// picker from it) without copying, and cost per message is proportional to
// the clusters it touches.
import type { WatchResponse__Output } from '../../proto/gen/infergate/discovery/v1/WatchResponse';
import type { ClusterChange, ClusterEndpoint, RoutingConfigVersion } from '../types';
import { sameEndpoint } from '../cluster-changes';
import { endpointFromProto } from '../wire';

/** Cluster (model) → endpoint id → endpoint. */
export type ClusterMap = ReadonlyMap<string, ReadonlyMap<string, ClusterEndpoint>>;

/** What a watcher knows at one version. */
export interface DiscoveryView {
  /** History the version belongs to ('' before the first message). */
  readonly epoch: string;
  /** Version of the last message applied (0 before the first). */
  readonly version: number;
  /** Every endpoint per cluster. */
  readonly clusters: ClusterMap;
  /** Routing config in force, if discovery sent one. */
  readonly config?: RoutingConfigVersion;
}

/** The view before any message. */
export const EMPTY_VIEW: DiscoveryView = { epoch: '', version: 0, clusters: new Map() };

/** One message's effect. */
export interface Applied {
  /** The view after the message. */
  readonly view: DiscoveryView;
  /** Endpoint changes, in order (a snapshot yields the difference to the old view). */
  readonly changes: ClusterChange[];
  /** True when the routing config changed. */
  readonly configChanged: boolean;
}

/** Applies one WatchResponse to a view. */
export function applyWatchResponse(view: DiscoveryView, msg: WatchResponse__Output): Applied {
  const same = msg.config && msg.config.version === view.config?.version && msg.config.json === view.config.json;
  const config = msg.config && !same ? { version: msg.config.version, json: msg.config.json } : view.config;
  const configChanged = config !== view.config;
  if (msg.snapshot) {
    const next = new Map<string, Map<string, ClusterEndpoint>>();
    for (const c of msg.clusters) {
      const eps = new Map<string, ClusterEndpoint>();
      for (const e of c.endpoints) eps.set(e.id, endpointFromProto(e));
      if (eps.size > 0) next.set(c.cluster_name, eps);
    }
    return {
      view: { epoch: msg.epoch, version: msg.version, clusters: next, config },
      changes: diffViews(view.clusters, next),
      configChanged,
    };
  }
  const clusters = new Map(view.clusters);
  const touched = new Map<string, Map<string, ClusterEndpoint>>();
  const changes: ClusterChange[] = [];
  for (const c of msg.changes) {
    if (!c.endpoint) continue;
    const name = c.cluster_name;
    let eps = touched.get(name);
    if (!eps) {
      eps = new Map(clusters.get(name) ?? []);
      touched.set(name, eps);
    }
    const old = eps.get(c.endpoint.id);
    if (c.type === 'REMOVE') {
      if (!old) continue;
      eps.delete(c.endpoint.id);
      changes.push({ type: 'REMOVE', cluster: name, endpoint: old });
    } else {
      const ep = endpointFromProto(c.endpoint);
      eps.set(ep.id, ep);
      // Trust our own view over the label: a resumed stream may repeat what we hold.
      if (!old) changes.push({ type: 'INSERT', cluster: name, endpoint: ep });
      else if (!sameEndpoint(old, ep)) changes.push({ type: 'UPDATE', cluster: name, endpoint: ep });
    }
  }
  for (const [name, eps] of touched) {
    if (eps.size > 0) clusters.set(name, eps);
    else clusters.delete(name);
  }
  return { view: { epoch: msg.epoch, version: msg.version, clusters, config }, changes, configChanged };
}

/** The changes that turn one cluster map into another. */
export function diffViews(before: ClusterMap, after: ClusterMap): ClusterChange[] {
  const out: ClusterChange[] = [];
  for (const [name, eps] of before) {
    const now = after.get(name);
    for (const [id, ep] of eps) if (!now?.has(id)) out.push({ type: 'REMOVE', cluster: name, endpoint: ep });
  }
  for (const [name, eps] of after) {
    const was = before.get(name);
    for (const [id, ep] of eps) {
      const old = was?.get(id);
      if (!old) out.push({ type: 'INSERT', cluster: name, endpoint: ep });
      else if (!sameEndpoint(old, ep)) out.push({ type: 'UPDATE', cluster: name, endpoint: ep });
    }
  }
  return out;
}
