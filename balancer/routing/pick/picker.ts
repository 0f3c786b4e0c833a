// The picker: one method returning a tagged result (grpc-js Picker.pick),
// built from an immutable list of candidates. Membership is fixed when the
// picker is built; load is read live from the endpoints' state at pick
// time. Strategies register by name (grpc-js registerLoadBalancerType) and
// the routing policy names one; nothing else branches on the name. Each
// strategy's module registers itself in its setup(), and index.ts calls the
// setups once, as grpc-js's index.ts does for its LB policies: this module
// imports no strategy.
import type { Clock, Random } from '../../../common/clock';
import type { PickerName } from '../../../routing-config/types';
import type { EndpointState } from '../endpoint-state';
import type { LoadMetric } from '../load/load-metric';

/** A pick: the endpoint to try, or why there is none. */
export type PickResult =
  { readonly kind: 'pick'; readonly endpoint: EndpointState } | { readonly kind: 'unavailable'; readonly reason: string };

/** Chooses one endpoint among the candidates it was built from. */
export interface Picker {
  /** One decision; synchronous, and called on the hot path. */
  pick(): PickResult;
}

/** What strategies may use besides the candidates. */
export interface PickerContext {
  /** Time for load metrics (peak EWMA decays with it). */
  readonly clock: Clock;
  /** The only source of randomness a strategy may use, so tests pin seeds. */
  readonly random: Random;
  /** Cost of an endpoint (the policy's p2c section); strategies that ignore load ignore it. */
  readonly metric: LoadMetric;
  /** Candidates drawn per pick by sampling strategies (p2c.choice_count, >= 2). */
  readonly choiceCount: number;
}

/**
 * Builds a picker over candidates, which never change afterwards.
 * Precondition: candidates is not empty (buildPicker handles empty lists),
 * so strategies need no empty case.
 */
export type PickerFactory = (candidates: readonly EndpointState[], ctx: PickerContext) => Picker;

/** A picker that always answers unavailable. */
export function unavailablePicker(reason: string): Picker {
  const r: PickResult = { kind: 'unavailable', reason };
  return { pick: () => r };
}

/** Filled by the strategies' setup() (index.ts), in the order they are called. */
const registry = new Map<string, PickerFactory>();

/** Adds (or replaces) a strategy; the routing config may then name it. */
export function registerPicker(name: string, factory: PickerFactory): void {
  registry.set(name, factory);
}

/** Names a routing config may use for `picker` (pass to the config parser). */
export function registeredPickers(): string[] {
  return [...registry.keys()];
}

/** The factory registered under name; throws naming the known ones (the config parser checks names first). */
export function pickerFactory(name: PickerName): PickerFactory {
  const f = registry.get(name);
  if (!f) throw new Error(`unknown picker '${name}'; registered: ${registeredPickers().join(', ')}`);
  return f;
}

/** A picker by the named strategy; an empty list gets one that answers unavailable. */
export function buildPicker(name: PickerName, candidates: readonly EndpointState[], ctx: PickerContext): Picker {
  return candidates.length === 0 ? unavailablePicker('no candidate endpoints') : pickerFactory(name)(candidates, ctx);
}

/**
 * Pickers for one route's policy (strategy and context), reused while a
 * candidate list is: lists that balancer/routing/candidates.ts marks stable are a snapshot's
 * own and live as long as it, so a WeakMap keyed by list drops pickers when
 * their snapshot is replaced; one cache serves every snapshot. One-off lists (shard subsets, lists without full breakers) get a
 * fresh picker each time; strategies must therefore work from their first
 * pick (round robin starts at a random index).
 */
export class PickerCache {
  private readonly byList = new WeakMap<readonly EndpointState[], Picker>();
  private readonly factory: PickerFactory;

  /** name: the policy's picker (resolved now, so an unknown name fails at config time, not per call). */
  constructor(
    name: PickerName,
    private readonly ctx: PickerContext,
  ) {
    this.factory = pickerFactory(name);
  }

  /** The picker for a candidate list; cached when stable. */
  get(candidates: readonly EndpointState[], stable: boolean): Picker {
    if (candidates.length === 0) return unavailablePicker('no candidate endpoints');
    if (!stable) return this.factory(candidates, this.ctx);
    let p = this.byList.get(candidates);
    if (!p) {
      p = this.factory(candidates, this.ctx);
      this.byList.set(candidates, p);
    }
    return p;
  }
}
