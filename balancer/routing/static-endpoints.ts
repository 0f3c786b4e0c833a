// The static endpoints of the balancer's own routing config (`endpoints:` in
// its --config file) as endpoint changes, so they join the clusters the way
// discovery's endpoints do: each config version's list is turned into a view
// (model → endpoints) and diffed against the last one, so a hot reload moves
// only what changed and the state of the endpoints that stay (in-flight
// counts, latency estimates, ejections) survives it.
//
// Static endpoints are always HEALTHY as listed (a plain Triton or KServe
// server reports no health anywhere); outlier detection ejects one that
// fails and `endpoint_overrides: { drain: true }` drains one. Their ids are
// `static:<address>`, apart from every id discovery hands out, so a balancer
// with both --discovery and static endpoints never mixes the two up.
import type { StaticEndpoint } from '../../routing-config/types';
import { NO_LOAD, type ClusterChange, type ClusterEndpoint } from '../../discovery/types';
import { diffViews, type ClusterMap } from '../../discovery/client/watcher-view';

/** The id prefix of static endpoints. */
export const STATIC_ID_PREFIX = 'static:';

/** The static endpoints as a view: model → id → endpoint. */
export function staticView(endpoints: readonly StaticEndpoint[]): ClusterMap {
  const out = new Map<string, Map<string, ClusterEndpoint>>();
  for (const e of endpoints) {
    const id = `${STATIC_ID_PREFIX}${e.address}`;
    for (const m of e.models) {
      let eps = out.get(m.name);
      if (!eps) out.set(m.name, (eps = new Map()));
      eps.set(id, {
        id,
        address: e.address,
        zone: e.zone,
        weight: e.weight,
        priority: 0,
        health: 'HEALTHY',
        versions: m.versions,
        labels: {},
        load: NO_LOAD,
        capacity: 0,
      });
    }
  }
  return out;
}

/** Turns each config version's static endpoint list into the changes since the previous one. */
export class StaticEndpoints {
  private view: ClusterMap = new Map();

  /** The changes that move the clusters from the last list to this one. */
  changes(endpoints: readonly StaticEndpoint[]): ClusterChange[] {
    const next = staticView(endpoints);
    const out = diffViews(this.view, next);
    this.view = next;
    return out;
  }

  /** Endpoints in the current list, over every model. */
  get size(): number {
    let n = 0;
    for (const eps of this.view.values()) n += eps.size;
    return n;
  }
}
