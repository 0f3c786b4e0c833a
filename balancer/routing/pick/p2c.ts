// Power of two (or choice_count) choices: draw distinct candidates at random
// in proportion to their weights, send to the one with the lowest cost.
// Distinct, because drawing the same endpoint twice turns the comparison
// into no comparison at all (Envoy's duplicate picks were a filed bug).
// The less loaded of two random bins cuts the maximum load from
// ~log n / log log n to ~log log n (Mitzenmacher; Azar et al.).
//
// Drawing without replacement: a point r in [0, weight left) is mapped onto
// the weight line with the chosen intervals cut out (each chosen interval
// at or below r shifts r past it), then found by binary search over prefix
// sums: O(c² + log n) per draw, nothing allocated per pick.
import type { EndpointState } from '../endpoint-state';
import { registerPicker, type Picker, type PickerContext, type PickerFactory, type PickResult } from './picker';

/** Costs within this ratio of each other tie (see beats()). */
const TIE_RATIO = 1.25;

class P2cPicker implements Picker {
  private readonly results: readonly PickResult[];
  /** prefix[i] = total weight of candidates before i; prefix[n] = total. */
  private readonly prefix: Float64Array;
  /** Indexes drawn in the current pick, ascending (scratch; picks are synchronous). */
  private readonly chosen: Int32Array;
  private readonly draws: number;

  constructor(
    private readonly candidates: readonly EndpointState[],
    private readonly ctx: PickerContext,
  ) {
    this.results = candidates.map((endpoint): PickResult => ({ kind: 'pick', endpoint }));
    const n = candidates.length;
    // Weights are >= 1 from discovery and > 0 from overrides; all-zero falls back to equal weights.
    const total = candidates.reduce((t, c) => t + Math.max(0, c.endpoint.weight), 0);
    this.prefix = new Float64Array(n + 1);
    for (let i = 0; i < n; i++) this.prefix[i + 1] = this.prefix[i] + (total > 0 ? Math.max(0, candidates[i].endpoint.weight) : 1);
    const drawable = total > 0 ? candidates.filter((c) => c.endpoint.weight > 0).length : n;
    this.draws = Math.min(Math.max(1, ctx.choiceCount), drawable);
    this.chosen = new Int32Array(this.draws);
  }

  pick(): PickResult {
    if (this.draws === 1) return this.results[this.drawOne(0, this.prefix[this.prefix.length - 1])];
    const now = this.ctx.clock.now();
    let left = this.prefix[this.prefix.length - 1];
    let best = -1;
    let bestCost = Infinity;
    for (let k = 0; k < this.draws; k++) {
      const i = this.drawOne(k, left);
      left -= this.prefix[i + 1] - this.prefix[i];
      const c = this.candidates[i];
      const cost = this.ctx.metric.cost(c, now);
      if (best < 0 || this.beats(cost, c, bestCost, this.candidates[best])) {
        best = i;
        bestCost = cost;
      }
    }
    return this.results[best];
  }

  /**
   * Whether a later draw (cost, c) beats the best so far. Costs within TIE_RATIO of each other
   * are a tie, settled by fewer calls in flight: two estimates of equal endpoints differ by
   * their noise (±30 % here), and without the band the one that drew the lower figure takes
   * every call until its own noise lifts it (2 of 2 sidecars at 50 calls/s took 2 %/98 % over
   * seconds in the routing simulation). A real gap (a +5 ms sidecar is 2.5x) is far outside
   * it. Exact ties keep the earlier draw, itself a weighted random choice: a fair coin between
   * equals would erase weights whenever costs tie, which is whenever the endpoints are idle.
   */
  private beats(cost: number, c: EndpointState, bestCost: number, best: EndpointState): boolean {
    if (cost * TIE_RATIO < bestCost) return true;
    if (bestCost * TIE_RATIO < cost) return false;
    return c.inFlight < best.inFlight;
  }

  /** Draws one index not among chosen[0..k), records it; left = weight not yet chosen. */
  private drawOne(k: number, left: number): number {
    const { prefix, chosen } = this;
    let r = this.ctx.random() * left;
    for (let j = 0; j < k && r >= prefix[chosen[j]]; j++) r += prefix[chosen[j] + 1] - prefix[chosen[j]];
    // Largest i with prefix[i] <= r, among weighted intervals.
    let lo = 0;
    let hi = prefix.length - 2;
    while (lo < hi) {
      const mid = (lo + hi + 1) >> 1;
      if (prefix[mid] <= r) lo = mid;
      else hi = mid - 1;
    }
    // Rounding can land on a chosen or empty interval at the top end: take the last free one.
    while (lo > 0 && (prefix[lo + 1] === prefix[lo] || this.isChosen(lo, k))) lo--;
    while (prefix[lo + 1] === prefix[lo] || this.isChosen(lo, k)) lo++;
    let j = k;
    while (j > 0 && chosen[j - 1] > lo) {
      chosen[j] = chosen[j - 1];
      j--;
    }
    chosen[j] = lo;
    return lo;
  }

  private isChosen(i: number, k: number): boolean {
    for (let j = 0; j < k; j++) if (this.chosen[j] === i) return true;
    return false;
  }
}

/** P2C over the context's load metric, choiceCount distinct weighted draws per pick. */
export const p2cPicker: PickerFactory = (candidates, ctx) => new P2cPicker(candidates, ctx);

/** Registers this strategy as 'p2c' (index.ts calls it once). */
export function setup(): void {
  registerPicker('p2c', p2cPicker);
}
