// Least request: the candidate with the fewest calls in flight from this
// balancer, found by a full scan (nginx least_conn, Linkerd's "least
// loaded"). A full scan rather than choice_count random draws: the sampled
// variant is exactly P2C over pending requests, which the p2c picker gives
// with peak_ewma off and queue_depth_weight 0, and candidate lists are a
// model's endpoints (tens), so a scan costs well under a microsecond.
//
// It uses pendingMetric whatever the policy's p2c section says, so it stays
// the classic comparison point against P2C with peak EWMA (Linkerd: one slow
// backend among 11 hurt least-loaded from ~p99, peak EWMA only at ~p99.9).
//
// Ties (every idle endpoint, at least) are broken by a weighted reservoir
// draw, so idle endpoints share calls in proportion to their weights and
// the lowest index is not favoured.
import type { EndpointState } from '../endpoint-state';
import { pendingMetric } from '../load/load-metric';
import { registerPicker, type Picker, type PickerContext, type PickerFactory, type PickResult } from './picker';

class LeastRequestPicker implements Picker {
  private readonly results: readonly PickResult[];

  constructor(
    private readonly candidates: readonly EndpointState[],
    private readonly ctx: PickerContext,
  ) {
    this.results = candidates.map((endpoint): PickResult => ({ kind: 'pick', endpoint }));
  }

  pick(): PickResult {
    const now = this.ctx.clock.now();
    let best = 0;
    let bestCost = Infinity;
    let tieWeight = 0;
    for (let i = 0; i < this.candidates.length; i++) {
      const c = this.candidates[i];
      const cost = pendingMetric.cost(c, now);
      const w = Math.max(c.endpoint.weight, Number.MIN_VALUE);
      if (cost < bestCost) {
        best = i;
        bestCost = cost;
        tieWeight = w;
      } else if (cost === bestCost) {
        tieWeight += w;
        if (this.ctx.random() * tieWeight < w) best = i;
      }
    }
    return this.results[best];
  }
}

/** Fewest local in-flight calls over every candidate; weighted random among ties. */
export const leastRequestPicker: PickerFactory = (candidates, ctx) => new LeastRequestPicker(candidates, ctx);

/** Registers this strategy as 'least_request' (index.ts calls it once). */
export function setup(): void {
  registerPicker('least_request', leastRequestPicker);
}
