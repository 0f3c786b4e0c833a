// --find-max: the highest open-loop rate whose p99 stays under the SLO with
// few enough errors. Exponential growth (x2 per step) until a step fails,
// then bisection between the best passing rate and the lowest failing one,
// each step a short open-loop phase. The search stops early when the load
// generator itself could not keep its schedule at a passing rate: past that
// point the figures would be the generator's limit, not the target's.
//
// The search is a function of a `runAt(rate)` callback, so its logic is
// tested against a fake target (test/bench/scenario/find-max.test.ts).
import { runLoad } from '../harness/load';
import type { FindMaxOptions, LoadResult } from '../harness/types';

/** What the search needs besides a way to run one step. */
export interface SearchOptions {
  /** p99 must stay under this (ms). */
  readonly sloP99Ms: number;
  /** Errors must stay at or under this share (default 0.001). */
  readonly maxErrorRate?: number;
  /** First rate tried (default 100). */
  readonly startRate?: number;
  /** Never offer more than this (default unbounded). */
  readonly maxRate?: number;
  /** Stop bisecting when the bracket is this narrow, relative to its top (default 0.05). */
  readonly precision?: number;
  /** Bound on steps run, whatever happens (default 20). */
  readonly maxSteps?: number;
}

/** The search's answer: the contract's best and tried, and why it stopped. */
export interface FindMaxOutcome {
  readonly best: LoadResult | undefined;
  readonly tried: LoadResult[];
  /** One sentence: the bracket found, or what cut the search short (maxRate, the generator, the step bound). */
  readonly reason: string;
}

/** A target keeps up when it answers at least this share of the offered rate; below it the queue is growing. */
const KEEPS_UP = 0.9;
/** Lowest rate the search goes down to when even small rates fail. */
const MIN_RATE = 1;

/** Whether one step meets the SLO, and a few words saying why not. */
export function verdict(r: LoadResult, sloP99Ms: number, maxErrorRate: number): { pass: boolean; why: string } {
  const offered = r.offeredRate ?? 0;
  if (r.errorRate > maxErrorRate)
    return { pass: false, why: `errors ${(100 * r.errorRate).toFixed(2)} % > ${(100 * maxErrorRate).toFixed(2)} %` };
  if (!(r.latencyMs.p99 < sloP99Ms)) return { pass: false, why: `p99 ${r.latencyMs.p99.toFixed(1)} ms >= ${sloP99Ms} ms` };
  if (r.achievedRate < KEEPS_UP * offered) return { pass: false, why: `answered ${r.achievedRate.toFixed(0)}/s of ${offered}/s offered` };
  return { pass: true, why: `p99 ${r.latencyMs.p99.toFixed(1)} ms, errors ${(100 * r.errorRate).toFixed(2)} %` };
}

/** Rates as a person would type them: whole numbers from 10 up, one decimal below. */
const tidy = (rate: number) => (rate >= 10 ? Math.round(rate) : Math.round(rate * 10) / 10);

/** Runs the search with runAt offering one open-loop step at a rate; onStep sees each step's verdict. */
export async function searchMaxRate(
  o: SearchOptions,
  runAt: (rate: number) => Promise<LoadResult>,
  onStep: (r: LoadResult, v: { pass: boolean; why: string }) => void = () => {},
): Promise<FindMaxOutcome> {
  const maxErr = o.maxErrorRate ?? 0.001;
  const maxRate = o.maxRate ?? Infinity;
  const precision = o.precision ?? 0.05;
  const maxSteps = o.maxSteps ?? 20;
  const tried: LoadResult[] = [];
  let best: LoadResult | undefined;
  let lo = 0;
  let hi: number | undefined;
  let hiLimited = false;
  let rate = tidy(Math.min(o.startRate ?? 100, maxRate));
  const bracket = () =>
    `the knee is between ${lo}/s (passed) and ${hi}/s (failed)${hiLimited ? '; the generator was limited at the failing rate, so the knee may be its own' : ''}`;
  while (tried.length < maxSteps) {
    const r = await runAt(rate);
    tried.push(r);
    const v = verdict(r, o.sloP99Ms, maxErr);
    onStep(r, v);
    if (v.pass) {
      [lo, best] = [rate, r];
      if (r.generator.limited) {
        return {
          best,
          tried,
          reason: `stopped at ${rate}/s: the load generator could not keep its schedule (max lag ${r.generator.maxLagMs.toFixed(0)} ms), so higher rates would measure the generator, not the target`,
        };
      }
      if (hi === undefined) {
        if (rate >= maxRate) return { best, tried, reason: `reached maxRate ${maxRate}/s with the SLO still met: the knee is above it` };
        rate = tidy(Math.min(rate * 2, maxRate));
        continue;
      }
    } else {
      [hi, hiLimited] = [rate, r.generator.limited];
    }
    // Bisection: hi is set here (the pass branch continues while it is not).
    const top = hi!;
    if (lo === 0 && top <= MIN_RATE) return { best, tried, reason: `even ${top}/s fails the SLO` };
    const next = tidy((lo + top) / 2);
    if (top - lo <= precision * top || next <= lo || next >= top) return { best, tried, reason: bracket() };
    rate = next;
  }
  return { best, tried, reason: `step bound (${maxSteps}) reached; ${hi === undefined ? `highest passing ${lo}/s` : bracket()}` };
}

/** A pause between steps, so a failed step's backlog drains before the next is measured. */
const SETTLE_MS = 500;

/** The highest rate whose p99 stays under the SLO with few enough errors; resolves with every phase tried and the best. */
export async function findMax(opts: FindMaxOptions): Promise<FindMaxOutcome> {
  const name = opts.load.label ?? opts.load.target;
  const outcome = await searchMaxRate(
    opts,
    async (rate) => {
      const r = await runLoad({ ...opts.load, rate, label: `${name} @${rate}/s` });
      await new Promise((res) => setTimeout(res, SETTLE_MS));
      return r;
    },
    (r, v) =>
      process.stderr.write(
        `find-max: ${r.offeredRate}/s: ${v.pass ? 'meets' : 'fails'} the SLO (${v.why}; answered ${r.achievedRate.toFixed(0)}/s)\n`,
      ),
  );
  process.stderr.write(`find-max: ${outcome.best ? `best ${outcome.best.offeredRate}/s` : 'no rate met the SLO'}; ${outcome.reason}\n`);
  return outcome;
}
