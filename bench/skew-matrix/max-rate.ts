// `max_rate: auto`: the highest offered rate this box sustains through
// every target, found with a healthy fleet (no faults) before the cells of
// that fleet size. A rate passes when every target answered at least
// answered_percent of the offered requests within the planned seconds
// plus 1 s and its p99 stayed under p99_ms. Steps up by `factor` from
// `from` while rates pass (down while they fail), then `refine`
// bisections between the highest pass and the lowest fail.
import { latencyWindow } from './analysis';
import type { Fleet } from './fleet';
import type { MatrixSpec } from './matrix-config';
import { runTarget, type TargetName } from './target-run';

export interface RateTrial {
  readonly rate: number;
  readonly target: string;
  readonly answeredPercent: number;
  readonly p99Ms: number;
  readonly passed: boolean;
}

/** Whether one target's trial passed, from its log (pure). */
export function trialPassed(
  answeredInTime: number,
  requested: number,
  p99Ms: number,
  s: MatrixSpec['search'],
): { answeredPercent: number; passed: boolean } {
  const answeredPercent = (100 * answeredInTime) / Math.max(1, requested);
  return { answeredPercent, passed: answeredPercent >= s.answeredPercent && p99Ms < s.p99Ms };
}

const round50 = (x: number) => Math.max(50, Math.round(x / 50) * 50);

/** Searches the fleet's sustainable rate; trials are reported as they finish. */
export async function findMaxRate(
  fleet: Fleet,
  spec: MatrixSpec,
  targets: readonly TargetName[],
  verbose: boolean,
  progress: (line: string) => void,
): Promise<{ rate: number; trials: RateTrial[] }> {
  const s = spec.search;
  const trials: RateTrial[] = [];
  const cell = { name: 'max-search', rate: 0, sidecars: fleet.sidecars.length, seconds: s.seconds };
  const tryRate = async (rate: number): Promise<boolean> => {
    let all = true;
    for (const target of targets) {
      const r = await runTarget(target, { fleet, cell, rate, spec, joinLeadS: 0, verbose });
      const t0 = r.samples.reduce((m, x) => Math.min(m, x.startUs), Infinity);
      const inTime = r.samples.filter((x) => x.status === 200 && x.startUs + x.durUs <= t0 + (s.seconds + 1) * 1e6).length;
      const ok = Math.max(0, inTime - (r.balancerStatuses ? r.requested - (r.balancerStatuses.OK ?? 0) : 0));
      const p99 = latencyWindow(r.samples, t0, 0, s.seconds + 60).p99;
      const v = trialPassed(ok, r.requested, p99, s);
      trials.push({ rate, target, p99Ms: p99, ...v });
      progress(
        `  max search ${rate}/s ${target}: ${v.answeredPercent.toFixed(1)} % answered in time, p99 ${p99.toFixed(1)} ms: ${v.passed ? 'ok' : 'NOT sustained'}`,
      );
      all &&= v.passed;
      if (!v.passed) break;
    }
    return all;
  };
  let rate = round50(s.from);
  let pass: number | undefined;
  let fail: number | undefined;
  // Bounded both ways: 12 steps of x2 from 1000 reach 4 million req/s, far past any one box.
  for (let step = 0; step < 12 && (pass === undefined || fail === undefined); step++) {
    if (await tryRate(rate)) [pass, rate] = [rate, round50(rate * s.factor)];
    else if (rate <= 50) [fail, pass] = [rate, 50];
    else [fail, rate] = [rate, round50(rate / s.factor)];
  }
  for (let k = 0; k < s.refine && pass !== undefined && fail !== undefined; k++) {
    const mid = round50((pass + fail) / 2);
    if (mid <= pass || mid >= fail) break;
    if (await tryRate(mid)) pass = mid;
    else fail = mid;
  }
  return { rate: pass ?? 50, trials };
}
