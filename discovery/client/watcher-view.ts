// The watcher's view and how a WatchResponse moves it forward. Views are
// immutable: each message yields a new view that shares every untouched
// cluster with the old one, so a balancer can hold a view (or rebuild its
// picker from it) without copying, and cost per message is proportional to
// the clusters it touches.
//
// Static stability across a discovery restart: a snapshot marked partial
// (the server is warming up, discovery/server/watch-hub.ts) is merged, not
// swapped in: an endpoint the view held and the snapshot lacks stays, noted
// as unconfirmed, until a change names it or the first message not marked
// partial, which removes whatever is still unconfirmed (nothing re-registered
// it within the server's warm-up). A REMOVE in a partial message is kept the
// same way: nothing leaves the view before the server's warm-up ends.
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
  /** Endpoints kept over a partial snapshot that lacked them, as unconfirmedKey(cluster, id). */
  readonly unconfirmed: ReadonlySet<string>;
}

const NONE: ReadonlySet<string> = new Set();

/** The view before any message. */
export const EMPTY_VIEW: DiscoveryView = { epoch: '', version: 0, clusters: new Map(), unconfirmed: NONE };

/** How DiscoveryView.unconfirmed names an endpoint of a cluster. */
export function unconfirmedKey(cluster: string, id: string): string {
  return `${cluster}\u0000${id}`;
}

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
    const unconfirmed = msg.partial ? keepMissing(view.clusters, next) : NONE;
    return {
      view: { epoch: msg.epoch, version: msg.version, clusters: next, config, unconfirmed },
      changes: diffViews(view.clusters, next),
      configChanged,
    };
  }
  const clusters = new Map(view.clusters);
  const touched = new Map<string, Map<string, ClusterEndpoint>>();
  const changes: ClusterChange[] = [];
  let unconfirmed = view.unconfirmed;
  let ownUnconfirmed = false;
  const edit = (name: string): Map<string, ClusterEndpoint> => {
    let eps = touched.get(name);
    if (!eps) {
      eps = new Map(clusters.get(name) ?? []);
      touched.set(name, eps);
    }
    return eps;
  };
  for (const c of msg.changes) {
    if (!c.endpoint) continue;
    const name = c.cluster_name;
    const eps = edit(name);
    const key = unconfirmed.size > 0 ? unconfirmedKey(name, c.endpoint.id) : '';
    if (key && unconfirmed.has(key)) {
      // Discovery names it again: from now on it is what discovery says.
      if (!ownUnconfirmed) unconfirmed = new Set(unconfirmed);
      ownUnconfirmed = true;
      (unconfirmed as Set<string>).delete(key);
    }
    const old = eps.get(c.endpoint.id);
    if (c.type === 'REMOVE') {
      if (!old) continue;
      if (msg.partial) {
        // A warming-up server also removes what it cannot know is alive (an etcd lease that lapsed
        // while no replica was up, its sidecar still re-registering): kept, unconfirmed, until the
        // warm-up ends. A sidecar that drained was DRAINING first, so nothing picks it meanwhile.
        if (!ownUnconfirmed) unconfirmed = new Set(unconfirmed);
        ownUnconfirmed = true;
        (unconfirmed as Set<string>).add(unconfirmedKey(name, c.endpoint.id));
        continue;
      }
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
  if (!msg.partial && unconfirmed.size > 0) {
    // The server's view is complete now: what it never listed again is gone.
    for (const key of unconfirmed) {
      const [name, id] = key.split('\u0000');
      const eps = edit(name);
      const old = eps.get(id);
      if (!old) continue;
      eps.delete(id);
      changes.push({ type: 'REMOVE', cluster: name, endpoint: old });
    }
    unconfirmed = NONE;
  }
  for (const [name, eps] of touched) {
    if (eps.size > 0) clusters.set(name, eps);
    else clusters.delete(name);
  }
  return { view: { epoch: msg.epoch, version: msg.version, clusters, config, unconfirmed }, changes, configChanged };
}

/**
 * Adds to next (a partial snapshot's clusters) every endpoint of before it lacks, and returns
 * their keys: the endpoints kept unconfirmed.
 */
function keepMissing(before: ClusterMap, next: Map<string, Map<string, ClusterEndpoint>>): ReadonlySet<string> {
  const kept = new Set<string>();
  for (const [name, eps] of before) {
    for (const [id, ep] of eps) {
      let now = next.get(name);
      if (now?.has(id)) continue;
      if (!now) next.set(name, (now = new Map()));
      now.set(id, ep);
      kept.add(unconfirmedKey(name, id));
    }
  }
  return kept.size > 0 ? kept : NONE;
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
