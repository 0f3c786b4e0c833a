// Parses the operators' routing config (routing.yaml) into a RoutingConfig:
// every problem in the file is reported at once, each naming file, dotted
// field path and line (common/config-check.ts). Layers merge field by field:
// built-in defaults < `defaults` < `models.<name>` < `objectives.<name>`
// (see policy.ts), and the result holds every route fully
// resolved, so consumers look routes up instead of merging.
import { isMap, isScalar } from 'yaml';
import { ConfigDocument, Value, type Mapping } from '../common/config-check';
import type { Logger } from '../common/log';
import type { RoutingConfigVersion } from '../discovery/types';
import { DEFAULT_POLICY, OBJECTIVE_POLICY_KEYS, POLICY_KEYS, readPolicy } from './policy';
import type {
  EndpointModel,
  EndpointOverride,
  Route,
  RoutingConfig,
  RoutingPolicy,
  ShadowConfig,
  StaticEndpoint,
  VersionWeight,
} from './types';

/** Pickers the balancer ships; parseRoutingConfig accepts others when told their names. */
export const BUILTIN_PICKERS: readonly string[] = ['p2c', 'round_robin', 'least_request'];

/**
 * The routing config a watcher received (discovery relays an already-validated config as JSON;
 * version 0 means none): { config } to apply (undefined: the built-in policy), or undefined when
 * the JSON does not parse, after one log line, so the caller keeps the config it has.
 */
export function decodePushedConfig(c: RoutingConfigVersion, log: Logger): { config: RoutingConfig | undefined } | undefined {
  if (c.version === 0 || !c.json) return { config: undefined };
  try {
    return { config: JSON.parse(c.json) as RoutingConfig };
  } catch (e) {
    log.error('routing config from discovery is not JSON; keeping the previous one', { version: c.version, err: String(e) });
    return undefined;
  }
}

/** Options of parseRoutingConfig. */
export interface ParseRoutingOptions {
  /** Picker names that may be configured (the registered strategies); default BUILTIN_PICKERS. */
  readonly pickers?: readonly string[];
}

const ROOT_KEYS = ['defaults', 'models', 'objectives', 'endpoints', 'endpoint_overrides'];
const MODEL_KEYS = [...POLICY_KEYS, 'split', 'shadow'];
const OBJECTIVE_KEYS = ['model', 'version', 'split', 'shadow', ...OBJECTIVE_POLICY_KEYS];
const ENDPOINT_KEYS = ['address', 'zone', 'weight', 'models'];
const SHADOW_KEYS = ['version', 'percent'];
/** host:port with a DNS name, an IPv4 address or a bracketed IPv6 address. */
const ADDRESS = /^(?:\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9](?:[A-Za-z0-9.-]*[A-Za-z0-9])?):([0-9]{1,5})$/;

/** Parses and checks routing.yaml text; throws a ConfigError listing every problem. */
export function parseRoutingConfig(text: string, file: string, opts: ParseRoutingOptions = {}): RoutingConfig {
  const doc = ConfigDocument.parse(text, file);
  const root = doc.root.map(ROOT_KEYS);
  const pickers = opts.pickers ?? BUILTIN_PICKERS;
  const defaults = readPolicy(root.section('defaults', POLICY_KEYS), POLICY_KEYS, DEFAULT_POLICY, pickers);

  // Maps while reading, turned into records at the end: a name like __proto__ must stay an ordinary key.
  const models = new Map<string, Route>();
  for (const [name, v] of unique(named(root.get('models'), 'a mapping of model names to their routing, e.g. { ranker: { split: ... } }'))) {
    const m = v.map(MODEL_KEYS);
    const split = readSplit(m.get('split'));
    const shadow = readShadow(m.get('shadow')) ?? undefined;
    const route = {
      model: name,
      ...(split && { split }),
      ...(shadow && { shadow }),
      policy: readPolicy(m, POLICY_KEYS, defaults, pickers),
    };
    checkShadow(route, m.get('shadow') ?? v);
    models.set(name, route);
  }

  const objectives = new Map<string, Route>();
  for (const [name, v] of unique(named(root.get('objectives'), 'a mapping of objective names to { model, version | split }'))) {
    const route = readObjective(v.map(OBJECTIVE_KEYS), v, models, defaults, pickers);
    if (route) objectives.set(name, route);
  }

  const addresses = new Set<string>();
  const endpoints = root.opt<readonly StaticEndpoint[]>('endpoints', [], (l) =>
    l.list((v) => readEndpoint(v.map(ENDPOINT_KEYS), addresses), {
      what: 'a list of static endpoints { address, zone, weight, models }',
    }),
  );

  const overrides = new Map<string, EndpointOverride>();
  for (const [address, v, keyV] of unique(named(root.get('endpoint_overrides'), 'a mapping of host:port to { weight, drain }'))) {
    readAddress(keyV, address);
    const o = v.map(['weight', 'drain']);
    // Integers: the discovery wire carries endpoint weights as uint32, as Envoy does.
    const weight = o.opt<number | undefined>('weight', undefined, (x) => x.int({ min: 1 }));
    overrides.set(address, { ...(weight !== undefined && { weight }), drain: o.opt('drain', false, (x) => x.bool()) });
  }

  return doc.finish<RoutingConfig>({
    defaults,
    models: Object.fromEntries(models),
    objectives: Object.fromEntries(objectives),
    endpoints,
    endpoint_overrides: Object.fromEntries(overrides),
  });
}

/** The route for calls naming a model: its own when configured, else the defaults. */
export function resolveModel(config: RoutingConfig, model: string): Route {
  return Object.hasOwn(config.models, model) ? config.models[model] : { model, policy: config.defaults };
}

/** The route for calls naming an objective; undefined when the config has no such objective. */
export function resolveObjective(config: RoutingConfig, objective: string): Route | undefined {
  return Object.hasOwn(config.objectives, objective) ? config.objectives[objective] : undefined;
}

/** The policy that applies to a model: defaults merged with the model's overrides. */
export function effectivePolicy(config: RoutingConfig, model: string): RoutingPolicy {
  return resolveModel(config, model).policy;
}

/** The entries of a mapping keyed by names the operator chooses, as [name, value, key]; none when absent. */
function named(v: Value | undefined, what: string): [string, Value, Value][] {
  if (!v) return [];
  const n = v.node;
  if (!isMap(n)) return v.fail(what) ?? [];
  const out: [string, Value, Value][] = [];
  for (const pair of n.items) {
    const raw = isScalar(pair.key) ? pair.key.value : undefined;
    const at = (isScalar(pair.key) ? pair.key.range?.[0] : undefined) ?? v.offset;
    const name = typeof raw === 'string' || typeof raw === 'number' ? String(raw) : '';
    const path = v.path ? `${v.path}.${name}` : name;
    const keyV = new Value(v.doc, pair.key, path, at);
    if (name === '') keyV.fail('a non-empty name');
    else out.push([name, new Value(v.doc, pair.value, path, at), keyV]);
  }
  return out;
}

/** Drops (and reports) a name seen before: YAML rejects repeated keys, but 1 and "1" are two keys with one name. */
function unique(entries: [string, Value, Value][]): [string, Value, Value][] {
  const seen = new Set<string>();
  return entries.filter(([name, , keyV]) => {
    if (seen.has(name)) return keyV.fail('each name once', `${name} again`) ?? false;
    seen.add(name);
    return true;
  });
}

/** A version: a positive integer, written as a number or a string. */
function readVersion(v: Value): string | undefined {
  const raw = v.raw();
  const s = typeof raw === 'number' || typeof raw === 'string' ? String(raw) : '';
  return /^[1-9][0-9]*$/.test(s) ? s : v.fail('a positive integer version, e.g. 1');
}

/** `{ "1": 95, "2": 5 }`: integer weights >= 0 summing to > 0, each version once, sorted by version. */
function readSplit(v: Value | undefined): VersionWeight[] | undefined {
  if (!v) return undefined;
  const entries = named(v, 'a mapping of versions to weights, e.g. { "1": 95, "2": 5 }');
  if (!v.node || !isMap(v.node)) return undefined;
  if (entries.length === 0) return v.fail('at least one version and its weight', 'an empty mapping');
  const out: VersionWeight[] = [];
  let ok = true;
  for (const [, w, keyV] of entries) {
    const version = readVersion(keyV);
    const weight = w.int({ min: 0 });
    // 1 and "1" are different YAML keys but the same version.
    if (version !== undefined && out.some((x) => x.version === version))
      ok = keyV.fail('each version once', `version ${version} again`) ?? false;
    else if (version !== undefined && weight !== undefined) out.push({ version, weight });
    else ok = false;
  }
  if (ok && out.every((x) => x.weight === 0)) return v.fail('weights summing to more than 0', 'weights summing to 0');
  return out.sort((a, b) => Number(a.version) - Number(b.version));
}

/** `{ version, percent }`; `false` is null (turns off an inherited shadow); undefined when absent or invalid. */
function readShadow(v: Value | undefined): ShadowConfig | null | undefined {
  if (!v) return undefined;
  if (v.raw() === false) return null;
  const m = v.map(SHADOW_KEYS);
  if (m.broken) return undefined;
  const version = readVersion(m.field('version'));
  const percent = m.field('percent').number({ min: 0, max: 100 });
  return version !== undefined && percent !== undefined ? { version, percent } : undefined;
}

/** Mirroring a call to a version that already serves it live would run it twice there and compare nothing. */
function checkShadow(route: Route, at: Value): void {
  const target = route.shadow?.version;
  if (target === undefined) return;
  const live = route.version === target || route.split?.some((x) => x.version === target && x.weight > 0);
  if (live)
    at.fail(
      `a shadow version other than those receiving live calls (${
        route.version ??
        route.split
          ?.filter((x) => x.weight > 0)
          .map((x) => x.version)
          .join(', ')
      })`,
      `shadow version ${target}`,
    );
}

/** An objective: a model (configured or not), then version or split, else the model's split; shadow inherited unless set. */
function readObjective(
  o: Mapping,
  v: Value,
  models: ReadonlyMap<string, Route>,
  defaults: RoutingPolicy,
  pickers: readonly string[],
): Route | undefined {
  const model = o.field('model').string();
  if (model === undefined) return undefined;
  const base: Route = models.get(model) ?? { model, policy: defaults };
  const versionV = o.get('version');
  const splitV = o.get('split');
  if (versionV && splitV) splitV.fail('either version or split, not both', 'both version and split');
  const version = versionV && readVersion(versionV);
  const split = splitV ? readSplit(splitV) : !versionV ? base.split : undefined;
  const shadowV = o.get('shadow');
  const own = readShadow(shadowV);
  const shadow = own === null ? undefined : (own ?? base.shadow);
  const route: Route = {
    model,
    ...(version && { version }),
    ...(split && { split }),
    ...(shadow && { shadow }),
    policy: readPolicy(o, OBJECTIVE_POLICY_KEYS, base.policy, pickers),
  };
  checkShadow(route, shadowV ?? versionV ?? splitV ?? v);
  return route;
}

/** Checks host:port (port 1-65535); returns the address when valid. */
function readAddress(v: Value, address: string | undefined = v.string()): string | undefined {
  if (address === undefined) return undefined;
  const m = ADDRESS.exec(address);
  const port = m ? Number(m[1]) : 0;
  return port >= 1 && port <= 65535 ? address : v.fail('host:port, e.g. 10.0.0.7:8001 or [::1]:8001 (port 1-65535)');
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
  if (!modelsV.node) modelsV.fail('a mapping of the models it serves to their versions, e.g. { ranker: [1, 2] }');
  for (const [name, v] of named(
    modelsV.node ? modelsV : undefined,
    'a mapping of the models it serves to their versions, e.g. { ranker: [1, 2] }',
  )) {
    const seenV = new Set<string>();
    // `recommend:` (no value) reads as a versionless model, like `recommend: []`.
    const versions =
      v.node === null
        ? []
        : v.list(
            (x) => {
              const ver = readVersion(x);
              if (ver !== undefined && seenV.has(ver)) return x.fail('each version once', `version ${ver} again`);
              if (ver !== undefined) seenV.add(ver);
              return ver;
            },
            { what: 'a list of versions, e.g. [1, 2] ([] for a versionless model)' },
          );
    if (versions) models.push({ name, versions });
  }
  if (modelsV.node && isMap(modelsV.node) && modelsV.node.items.length === 0) modelsV.fail('at least one model', 'an empty mapping');
  return address !== undefined ? { address, zone, weight, models } : undefined;
}
