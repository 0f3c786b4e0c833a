// The routing config's static endpoints (`endpoints:`): servers that do not
// register with discovery, e.g. plain Triton or KServe servers. Discovery
// lays them over its view for every watcher; a balancer started without
// --discovery routes over them alone, and then every route in the file must
// name a model one of them serves (checkServedWithoutDiscovery): nothing
// else could ever serve it, so such a route is a typo to report at start-up
// or on reload, not a model to answer UNAVAILABLE for forever.
import { isMap } from 'yaml';
import type { Mapping, Value } from '../common/config-check';
import { named, readAddress, readVersion } from './parse-fields';
import type { EndpointModel, StaticEndpoint } from './types';

const ENDPOINT_KEYS = ['address', 'zone', 'weight', 'models'];
const MODELS_WHAT = 'a mapping of the models it serves to their versions, e.g. { ranker: [1, 2] }';

/** A route's reference to a model: models.<name> (its key) or objectives.<name>.model (its value). */
export interface ModelRef {
  readonly model: string;
  /** Where an issue about it points. */
  readonly at: Value;
}

/** `endpoints:`, a list of { address, zone, weight, models }; addresses unique. */
export function readEndpoints(root: Mapping): StaticEndpoint[] {
  const seen = new Set<string>();
  return root.opt<StaticEndpoint[]>('endpoints', [], (l) =>
    l.list((v) => readEndpoint(v.map(ENDPOINT_KEYS), seen), {
      what: 'a list of static endpoints { address, zone, weight, models }',
    }),
  );
}

/**
 * Without discovery the static endpoints are all there is: at least one is needed, and each
 * route (models.<name>, objectives.<name>.model) must name a model one of them serves.
 */
export function checkServedWithoutDiscovery(root: Mapping, endpoints: readonly StaticEndpoint[], refs: readonly ModelRef[]): void {
  if (endpoints.length === 0) {
    root
      .field('endpoints')
      .fail(
        'at least one static endpoint { address, models } (the balancer runs without --discovery: pass --discovery or list endpoints)',
        root.get('endpoints') ? 'an empty list' : 'no endpoints',
      );
    return;
  }
  const served = new Set(endpoints.flatMap((e) => e.models.map((m) => m.name)));
  const list = [...served].sort().join(', ');
  for (const r of refs) {
    if (!served.has(r.model))
      r.at.fail(
        `a model some static endpoint serves (${list}): the balancer runs without --discovery, so nothing else can serve it`,
        `model '${r.model}'`,
      );
  }
}

/** One static endpoint; its address must be unique among static endpoints. */
function readEndpoint(m: Mapping, seen: Set<string>): StaticEndpoint | undefined {
  const addressV = m.field('address');
  let address = readAddress(addressV);
  if (address !== undefined && seen.has(address)) address = addressV.fail('each address once', `${addressV.describe()} again`);
  if (address !== undefined) seen.add(address);
  const zone = m.opt('zone', '', (v) => v.string());
  const weight = m.opt('weight', 1, (x) => x.int({ min: 1 }));
  const modelsV = m.field('models');
  const models: EndpointModel[] = [];
  if (!modelsV.node) modelsV.fail(MODELS_WHAT);
  for (const [name, v] of named(modelsV.node ? modelsV : undefined, MODELS_WHAT)) {
    const versions = v.node === null ? [] : readVersions(v);
    if (versions) models.push({ name, versions });
  }
  if (modelsV.node && isMap(modelsV.node) && modelsV.node.items.length === 0) modelsV.fail('at least one model', 'an empty mapping');
  return address !== undefined ? { address, zone, weight, models } : undefined;
}

/** `[1, 2]`, each version once; `recommend:` (no value) reads as a versionless model, like `recommend: []`. */
function readVersions(v: Value): string[] | undefined {
  const seen = new Set<string>();
  return v.list(
    (x) => {
      const ver = readVersion(x);
      if (ver !== undefined && seen.has(ver)) return x.fail('each version once', `version ${ver} again`);
      if (ver !== undefined) seen.add(ver);
      return ver;
    },
    { what: 'a list of versions, e.g. [1, 2] ([] for a versionless model)' },
  );
}
