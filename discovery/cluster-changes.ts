// Records in, per-cluster changes out. A record lists every model an
// endpoint serves; watchers see one cluster per model (Envoy's
// ClusterLoadAssignment), so one record write becomes zero or more cluster
// changes. Pure functions, shared by the hub (server side) and the watcher
// (client side, to turn a resync snapshot into changes).
import type { ClusterChange, ClusterEndpoint, EndpointRecord } from './types';

/** The endpoint as it appears in each cluster (model) it serves. */
export function clusterEndpoints(r: EndpointRecord): Map<string, ClusterEndpoint> {
  const out = new Map<string, ClusterEndpoint>();
  for (const m of r.models) {
    out.set(m.name, {
      id: r.id,
      address: r.address,
      zone: r.zone,
      weight: r.weight,
      priority: r.priority,
      health: r.health,
      versions: m.versions,
      labels: r.labels,
      load: r.load,
      capacity: r.capacity,
    });
  }
  return out;
}

/** True when two views of an endpoint are indistinguishable to a watcher. */
export function sameEndpoint(a: ClusterEndpoint, b: ClusterEndpoint): boolean {
  return (
    a.id === b.id &&
    a.address === b.address &&
    a.zone === b.zone &&
    a.weight === b.weight &&
    a.priority === b.priority &&
    a.health === b.health &&
    a.capacity === b.capacity &&
    sameList(a.versions, b.versions) &&
    sameLabels(a.labels, b.labels) &&
    a.load.queueDepth === b.load.queueDepth &&
    a.load.inFlight === b.load.inFlight &&
    a.load.latencyMs === b.load.latencyMs
  );
}

/** The cluster changes that turn `prev` into `next` (either may be absent). */
export function diffRecord(prev: EndpointRecord | undefined, next: EndpointRecord | undefined): ClusterChange[] {
  const before = prev ? clusterEndpoints(prev) : new Map<string, ClusterEndpoint>();
  const after = next ? clusterEndpoints(next) : new Map<string, ClusterEndpoint>();
  return diffClusters(before, after);
}

/** Changes between two cluster → endpoint maps of one endpoint. */
export function diffClusters(before: ReadonlyMap<string, ClusterEndpoint>, after: ReadonlyMap<string, ClusterEndpoint>): ClusterChange[] {
  const out: ClusterChange[] = [];
  for (const [cluster, ep] of before) if (!after.has(cluster)) out.push({ type: 'REMOVE', cluster, endpoint: ep });
  for (const [cluster, ep] of after) {
    const old = before.get(cluster);
    if (!old) out.push({ type: 'INSERT', cluster, endpoint: ep });
    else if (!sameEndpoint(old, ep)) out.push({ type: 'UPDATE', cluster, endpoint: ep });
  }
  return out;
}

/**
 * Folds a run of changes into the net change per (cluster, endpoint): what a
 * watcher that missed them all needs. The first change tells whether the
 * watcher had the endpoint (INSERT: no; UPDATE/REMOVE: yes), the last one
 * what it should hold now.
 */
export function coalesce(changes: readonly ClusterChange[]): ClusterChange[] {
  const first = new Map<string, ClusterChange>();
  const last = new Map<string, ClusterChange>();
  for (const c of changes) {
    const key = `${c.cluster}\u0000${c.endpoint.id}`;
    if (!first.has(key)) first.set(key, c);
    last.set(key, c);
  }
  const out: ClusterChange[] = [];
  for (const [key, f] of first) {
    const l = last.get(key)!;
    const had = f.type !== 'INSERT';
    const has = l.type !== 'REMOVE';
    if (had && has) out.push({ ...l, type: 'UPDATE' });
    else if (!had && has) out.push({ ...l, type: 'INSERT' });
    else if (had && !has) out.push(l);
  }
  return out;
}

/** Does a watcher with this cluster filter (empty = all) see this cluster? */
export function wants(filter: ReadonlySet<string>, cluster: string): boolean {
  return filter.size === 0 || filter.has(cluster);
}

function sameList(a: readonly string[], b: readonly string[]): boolean {
  return a.length === b.length && a.every((x, i) => x === b[i]);
}

function sameLabels(a: Readonly<Record<string, string>>, b: Readonly<Record<string, string>>): boolean {
  const ka = Object.keys(a);
  return ka.length === Object.keys(b).length && ka.every((k) => a[k] === b[k]);
}
