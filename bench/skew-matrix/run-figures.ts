// From what one target's run recorded (h2load's log, the sidecar polls,
// the times of mid-run events) to its figures: latency per window, calls
// and shares per sidecar, the p99 inside the sidecars, convergence times,
// errors. Pure, so the rules are unit-tested on synthetic runs.
import {
  callsBetween,
  firstAnswerS,
  latencyWindow,
  nearestPoll,
  p99PerSecond,
  shareSeries,
  sidecarP99,
  timeToReach,
  timeToStayUnder,
  type LatencyWindow,
  type Poll,
  type Sample,
  type ShareWindow,
} from './analysis';
import type { RunInput, WindowInput } from './verdict';

/** What a run recorded. */
export interface RawRun {
  readonly target: string;
  readonly samples: readonly Sample[];
  readonly requested: number;
  readonly polls: readonly Poll[];
  /** Mid-run events (slow, recover, join) by name: ms since the epoch when they took effect. */
  readonly events: Readonly<Record<string, number>>;
  /** infergate only: the balancer's final statuses (infergate_balancer_requests_total by status). */
  readonly balancerStatuses?: Readonly<Record<string, number>>;
}

/** The cell's shape, as the figures need it. */
export interface RunShape {
  /** Offered requests/s. */
  readonly rate: number;
  readonly sidecars: number;
  readonly seconds: number;
  /** The slow (or failing) sidecar, whose share must fall; null when the cell has none. */
  readonly slowIndex: number | null;
  readonly special?: 'double' | 'slowmid' | 'join';
  /** The sidecar the shares follow: the slow one, the double one, or the joiner. */
  readonly watchIndex: number | null;
  /** The watched sidecar's fair share (0-1) once healthy: 1/N, or its capacity's part for double. */
  readonly fairShare: number;
  readonly windows: Readonly<Record<string, readonly [number, number]>>;
  readonly pollMs: number;
  readonly bucketsMs: readonly number[];
  /** Share under which the slow sidecar counts as avoided (0-1), and part of fair share that counts as reached (0-1). */
  readonly avoidShare: number;
  readonly reachPart: number;
}

export interface WindowFigures extends LatencyWindow, WindowInput {
  /** Requests the schedule owed in the window (rate x length); `sent` well under it means h2load fell behind. */
  readonly offered: number;
  readonly calls: readonly number[];
}

export interface RunFigures extends RunInput {
  readonly windows: Readonly<Record<'cold' | 'warm', WindowFigures>> & Readonly<Record<string, WindowFigures>>;
  readonly calls: readonly number[];
  readonly shares: readonly ShareWindow[];
  readonly p99PerSecond: readonly number[];
  /** Not judged: for double, when the big sidecar first had 75 % of its capacity's share. */
  readonly informative: Readonly<Record<string, number | null>>;
  /** Events in seconds from the first request. */
  readonly eventsS: Readonly<Record<string, number>>;
  readonly errors: {
    /** Calls the client got a non-OK answer for: the balancer's final statuses for infergate, the sidecars' for a peer (no retries). */
    readonly clientNonOk: number;
    /** Non-OK answers at the sidecars (for infergate, attempts it may have retried). */
    readonly sidecarNonOk: number;
    /** h2load rows that were not HTTP 200 (refused streams, proxy errors). */
    readonly httpFailed: number;
    /** Requested but never logged (h2load killed, streams lost). */
    readonly unanswered: number;
  };
}

const sum = (xs: readonly number[]) => xs.reduce((a, b) => a + b, 0);

/** The figures of one run; null when h2load logged nothing. */
export function runFigures(raw: RawRun, shape: RunShape): RunFigures | null {
  if (raw.samples.length === 0 || raw.polls.length === 0) return null;
  // A loop, not Math.min(...): a 30 s run logs 60k samples, past what spreading into arguments allows.
  let t0Us = Infinity;
  let endUs = 0;
  for (const s of raw.samples) [t0Us, endUs] = [Math.min(t0Us, s.startUs), Math.max(endUs, s.startUs + s.durUs)];
  const t0Ms = t0Us / 1000;
  const fast = Array.from({ length: shape.sidecars }, (_, i) => i).filter((i) => i !== shape.slowIndex);
  const all = Array.from({ length: shape.sidecars }, (_, i) => i);
  const windows: Record<string, WindowFigures> = {};
  for (const [name, [a, b]] of Object.entries(shape.windows)) {
    const [pa, pb] = [nearestPoll(raw.polls, t0Ms + a * 1000), nearestPoll(raw.polls, t0Ms + b * 1000)];
    const calls = callsBetween(pa, pb);
    const total = sum(calls);
    windows[name] = {
      ...latencyWindow(raw.samples, t0Us, a, b),
      offered: shape.rate * (b - a),
      calls,
      slowShare: shape.slowIndex === null || total === 0 ? null : calls[shape.slowIndex] / total,
      sidecarP99All: sidecarP99(pa, pb, all, shape.bucketsMs),
      sidecarP99Fast: sidecarP99(pa, pb, fast, shape.bucketsMs),
    };
  }
  const eventsS = Object.fromEntries(Object.entries(raw.events).map(([k, v]) => [k, (v - t0Ms) / 1000]));
  // Windows end by the last second of sending: after it only the slowest calls are still finishing, so a
  // window there would show the slow sidecar's share of the stragglers, not of the routing.
  const endS = Math.min(shape.seconds, (endUs - t0Us) / 1e6);
  const shares = shape.watchIndex === null ? [] : shareSeries(raw.polls, t0Ms, shape.watchIndex, shape.pollMs);
  const reach = shape.fairShare * shape.reachPart;
  const convergence: Record<string, number | null> = {};
  const informative: Record<string, number | null> = {};
  if (shape.special === 'slowmid') {
    const [slow, recover] = [eventsS.slow ?? NaN, eventsS.recover ?? NaN];
    convergence.avoid_after_turning_slow = timeToStayUnder(shares, slow, recover, shape.avoidShare);
    convergence.back_after_recovery = timeToReach(shares, recover, reach);
  } else if (shape.special === 'join') {
    const first = shape.watchIndex === null ? null : firstAnswerS(raw.polls, t0Ms, shape.watchIndex);
    if (first !== null) eventsS.first_answer = first;
    convergence.join_to_fair = first === null ? null : timeToReach(shares, first, reach);
    // Not judged, but where a target's lag hides: the time from ready (registered) to its first answer.
    if (eventsS.join_ready !== undefined)
      informative.first_answer_after_ready = first === null ? null : Math.max(0, first - eventsS.join_ready);
  } else if (shape.special === 'double') {
    informative.double_to_capacity_share = timeToReach(shares, 0, reach);
  } else if (shape.slowIndex !== null) {
    convergence.avoid_slow = timeToStayUnder(shares, 0, endS, shape.avoidShare);
  }
  const [first, last] = [raw.polls[0], raw.polls[raw.polls.length - 1]];
  const sidecarNonOk = sum(last.nonOk.map((n, i) => n - first.nonOk[i]));
  const balancerNonOk = raw.balancerStatuses ? sum(Object.entries(raw.balancerStatuses).map(([k, v]) => (k === 'OK' ? 0 : v))) : undefined;
  const errors = {
    clientNonOk: balancerNonOk ?? sidecarNonOk,
    sidecarNonOk,
    httpFailed: raw.samples.filter((s) => s.status !== 200).length,
    unanswered: Math.max(0, raw.requested - raw.samples.length),
  };
  return {
    target: raw.target,
    clientErrors: errors.clientNonOk + errors.httpFailed + errors.unanswered,
    windows: windows as RunFigures['windows'],
    calls: callsBetween(first, last),
    shares,
    p99PerSecond: p99PerSecond(raw.samples, t0Us, shape.seconds),
    convergence,
    informative,
    eventsS,
    errors,
  };
}
