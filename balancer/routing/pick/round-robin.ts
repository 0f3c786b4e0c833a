// Round robin: each candidate in turn, ignoring load and weights (as
// grpc-js's round_robin does). It is here to compare against, not to use:
// it keeps sending a slow endpoint its 1/n share.
//
// The start index is random: pickers are rebuilt with every snapshot and
// built per call for one-off lists (shard subsets), and always starting at
// 0 would send those calls to the first candidate every time.
import type { EndpointState } from '../endpoint-state';
import { registerPicker, type Picker, type PickerContext, type PickerFactory, type PickResult } from './picker';

class RoundRobinPicker implements Picker {
  private readonly results: readonly PickResult[];
  private next: number;

  constructor(candidates: readonly EndpointState[], ctx: PickerContext) {
    this.results = candidates.map((endpoint): PickResult => ({ kind: 'pick', endpoint }));
    this.next = Math.floor(ctx.random() * candidates.length);
  }

  pick(): PickResult {
    const r = this.results[this.next];
    this.next = (this.next + 1) % this.results.length;
    return r;
  }
}

/** Round robin from a random start. */
export const roundRobinPicker: PickerFactory = (candidates, ctx) => new RoundRobinPicker(candidates, ctx);

/** Registers this strategy as 'round_robin' (index.ts calls it once). */
export function setup(): void {
  registerPicker('round_robin', roundRobinPicker);
}
