// Parses the operators' routing config (routing.yaml) into a RoutingConfig:
// every problem in the file is reported at once, each naming file, dotted
// field path and line (common/config-check.ts). Layers merge field by field:
// built-in defaults < `defaults` < `models.<name>` < `objectives.<name>`
// (see policy.ts), and the result holds every route fully
// resolved, so consumers look routes up instead of merging.
import { isMap } from 'yaml';
import { ConfigDocument, type Mapping, type Value } from '../common/config-check';
import type { Logger } from '../common/log';
import type { RoutingConfigVersion } from '../discovery/types';
import { checkServedWithoutDiscovery, readEndpoints, type ModelRef } from './parse-endpoints';
import { named, readAddress, readVersion, unique } from './parse-fields';
import { DEFAULT_POLICY, OBJECTIVE_POLICY_KEYS, POLICY_KEYS, readPolicy } from './policy';
import type { EndpointOverride, Route, RoutingConfig, RoutingPolicy, ShadowConfig, VersionWeight } from './types';

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
  /**
   * The reader has no discovery (a balancer without --discovery): the static endpoints are all
   * it routes over, so at least one is required and every route must name a model one serves.
   */
  readonly withoutDiscovery?: boolean;
}

const ROOT_KEYS = ['defaults', 'models', 'objectives', 'endpoints', 'endpoint_overrides'];
const MODEL_KEYS = [...POLICY_KEYS, 'split', 'shadow'];
const OBJECTIVE_KEYS = ['model', 'version', 'split', 'shadow', ...OBJECTIVE_POLICY_KEYS];
const SHADOW_KEYS = ['version', 'percent'];

/** Parses and checks routing.yaml text; throws a ConfigError listing every problem. */
export function parseRoutingConfig(text: string, file: string, opts: ParseRoutingOptions = {}): RoutingConfig {
  const doc = ConfigDocument.parse(text, file);
  const root = doc.root.map(ROOT_KEYS);
  const pickers = opts.pickers ?? BUILTIN_PICKERS;
  const defaults = readPolicy(root.section('defaults', POLICY_KEYS), POLICY_KEYS, DEFAULT_POLICY, pickers);

  // Maps while reading, turned into records at the end: a name like __proto__ must stay an ordinary key.
  const models = new Map<string, Route>();
  // The models routes name, checked against the static endpoints when there is no discovery.
  const refs: ModelRef[] = [];
  for (const [name, v, keyV] of unique(
    named(root.get('models'), 'a mapping of model names to their routing, e.g. { ranker: { split: ... } }'),
  )) {
    refs.push({ model: name, at: keyV });
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
    const o = v.map(OBJECTIVE_KEYS);
    const route = readObjective(o, v, models, defaults, pickers);
    if (route) objectives.set(name, route);
    if (route) refs.push({ model: route.model, at: o.field('model') });
  }

  const endpoints = readEndpoints(root);
  if (opts.withoutDiscovery) checkServedWithoutDiscovery(root, endpoints, refs);

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
