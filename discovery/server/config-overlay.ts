// The operators' routing config laid over the registered endpoints: static
// endpoints (sidecars that do not register) join the view, and per-address
// overrides replace an endpoint's weight or show it DRAINING. Pure data, one
// instance per config version: the hub asks what an endpoint id looks like
// under it; versions and fan-out stay in the hub (watch-hub.ts).
//
// A static endpoint's id is its address, the id a sidecar registering
// without --endpoint-id gets, so a sidecar that starts registering takes
// over its static entry (an UPDATE, not a second endpoint) and the static
// entry comes back when its lease ends.
import type { EndpointOverride, StaticEndpoint } from '../../routing-config/types';
import { NO_LOAD, type EndpointRecord, type RoutingConfigVersion } from '../types';

/** The part of the routing config this module reads; anything else in the JSON is ignored. */
interface OverlayFields {
  readonly endpoints?: readonly StaticEndpoint[];
  readonly endpoint_overrides?: Readonly<Record<string, EndpointOverride>>;
}

/** Static endpoints and overrides of one routing config version. */
export class ConfigOverlay {
  /** No config: the view is exactly the store's. */
  static readonly EMPTY = new ConfigOverlay(new Map(), new Map());

  private constructor(
    private readonly statics: ReadonlyMap<string, EndpointRecord>,
    private readonly overrides: ReadonlyMap<string, EndpointOverride>,
  ) {}

  /**
   * Reads a config version's JSON (already validated by the routing-config
   * module, which admits only integer weights >= 1, as the wire carries;
   * absent fields mean none).
   */
  static fromConfig(cfg: RoutingConfigVersion | undefined): ConfigOverlay {
    if (!cfg) return ConfigOverlay.EMPTY;
    const { endpoints = [], endpoint_overrides = {} } = JSON.parse(cfg.json) as OverlayFields;
    if (endpoints.length === 0 && Object.keys(endpoint_overrides).length === 0) return ConfigOverlay.EMPTY;
    const statics = new Map<string, EndpointRecord>();
    for (const e of endpoints) {
      statics.set(e.address, {
        id: e.address,
        address: e.address,
        zone: e.zone,
        labels: {},
        models: e.models.map((m) => ({ name: m.name, versions: [...m.versions] })),
        weight: e.weight,
        capacity: 0,
        priority: 0,
        health: 'HEALTHY',
        load: NO_LOAD,
      });
    }
    const overrides = new Map<string, EndpointOverride>();
    for (const [address, o] of Object.entries(endpoint_overrides)) {
      if (o.weight === undefined && !o.drain) continue; // changes nothing
      overrides.set(address, { ...(o.weight !== undefined && { weight: o.weight }), drain: o.drain });
    }
    return new ConfigOverlay(statics, overrides);
  }

  /** Ids of the static endpoints (some may be shadowed by registered records). */
  staticIds(): IterableIterator<string> {
    return this.statics.keys();
  }

  /**
   * What watchers see under `id`, given the record registered under it (if
   * any): the registered record wins over a static one with the same id; the
   * override for its address applies to either. Returns the input object
   * itself when nothing applies, so the common path allocates nothing.
   */
  effective(id: string, registered: EndpointRecord | undefined): EndpointRecord | undefined {
    const r = registered ?? this.statics.get(id);
    if (!r) return undefined;
    const o = this.overrides.get(r.address);
    if (!o) return r;
    return { ...r, weight: o.weight ?? r.weight, health: o.drain ? 'DRAINING' : r.health };
  }
}
