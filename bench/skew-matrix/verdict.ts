// The verdict of one cell, a pure function of the figures: in each window
// (cold, warm) infergate's p99 must be at most p99_ratio (0.5) x the best
// peer's where that peer's p99 is set by the slow sidecar, and never above
// the best peer's anywhere; each of infergate's convergence times must be
// within converge_s. A lost cell lists every check it failed, with figures.
import type { VerdictSpec } from './matrix-config';

export const WINDOWS = ['cold', 'warm'] as const;
export type WindowName = (typeof WINDOWS)[number];

/** What the verdict reads of one target's window. */
export interface WindowInput {
  /** Client-seen p99 (ms). */
  readonly p99: number;
  /** The slow sidecar's share (0-1) of the calls in the window; null when the cell has no slow sidecar. */
  readonly slowShare: number | null;
  /** p99 (ms) inside the sidecars (histogram bucket bound), all of them and the fast ones only. */
  readonly sidecarP99All: number;
  readonly sidecarP99Fast: number;
}

/** What the verdict reads of one target's run. */
export interface RunInput {
  readonly target: string;
  readonly windows: Readonly<Record<WindowName, WindowInput>>;
  /** Named convergence times (s); null = never converged. Only infergate's are judged. */
  readonly convergence: Readonly<Record<string, number | null>>;
  /** Calls the client got an error for (not judged; see CellVerdict.remarks). */
  readonly clientErrors?: number;
}

export interface WindowVerdict {
  readonly window: WindowName;
  readonly infergateP99: number;
  readonly bestPeer: string;
  readonly bestPeerP99: number;
  /** The best peer sent the slow sidecar >= share_percent of its calls and that pushed its fleet's p99 up. */
  readonly slowSetsPeerP99: boolean;
  /** The p99 infergate had to stay at or under. */
  readonly limit: number;
  readonly met: boolean;
}

export interface CellVerdict {
  /** won: every check met; lost: some failed; n/a: nothing to compare (no infergate run or no peer). */
  readonly status: 'won' | 'lost' | 'n/a';
  readonly windows: readonly WindowVerdict[];
  readonly convergence: readonly { readonly name: string; readonly seconds: number | null; readonly met: boolean }[];
  /** One line per failed check, with the figures; or why there is no verdict. */
  readonly notes: readonly string[];
  /**
   * Not part of the verdict, but needed to read it: which targets handed clients errors. A failed
   * call answers fast, and h2load cannot tell it from a good one, so it counts in the p99 as an answer.
   */
  readonly remarks: readonly string[];
}

/** Whether the slow sidecar sets a run's p99 in a window (see WindowVerdict.slowSetsPeerP99). */
export function slowSetsP99(w: WindowInput, spec: VerdictSpec): boolean {
  return w.slowShare !== null && w.slowShare * 100 >= spec.sharePercent && w.sidecarP99All > w.sidecarP99Fast;
}

const ms = (x: number) => `${x.toFixed(1)} ms`;

/** The verdict of a cell from its runs (one per target; infergate's named 'infergate'). */
export function judgeCell(runs: readonly RunInput[], spec: VerdictSpec): CellVerdict {
  const ig = runs.find((r) => r.target === 'infergate');
  const peers = runs.filter((r) => r.target !== 'infergate');
  if (!ig || peers.length === 0)
    return { status: 'n/a', windows: [], convergence: [], notes: [!ig ? 'infergate was not run' : 'no peer was run'], remarks: [] };
  const notes: string[] = [];
  const windows: WindowVerdict[] = [];
  for (const w of WINDOWS) {
    const measured = peers.filter((p) => !Number.isNaN(p.windows[w].p99));
    if (measured.length === 0) {
      notes.push(`${w}: no peer answered in the window`);
      continue;
    }
    const best = measured.reduce((a, b) => (b.windows[w].p99 < a.windows[w].p99 ? b : a));
    const bestP99 = best.windows[w].p99;
    const slowSets = slowSetsP99(best.windows[w], spec);
    const limit = slowSets ? spec.p99Ratio * bestP99 : bestP99;
    const p99 = ig.windows[w].p99;
    const met = p99 <= limit;
    windows.push({ window: w, infergateP99: p99, bestPeer: best.target, bestPeerP99: bestP99, slowSetsPeerP99: slowSets, limit, met });
    if (!met) {
      notes.push(
        Number.isNaN(p99)
          ? `${w}: infergate answered nothing in the window`
          : slowSets
            ? `${w} p99 ${ms(p99)} > ${spec.p99Ratio} x ${best.target} ${ms(bestP99)} = ${ms(limit)} (the slow sidecar had ${(best.windows[w].slowShare! * 100).toFixed(1)} % of ${best.target}'s calls)`
            : `${w} p99 ${ms(p99)} > ${best.target} ${ms(bestP99)}`,
      );
    }
  }
  const convergence = Object.entries(ig.convergence).map(([name, seconds]) => ({
    name,
    seconds,
    met: seconds !== null && seconds <= spec.convergeS,
  }));
  for (const c of convergence)
    if (!c.met) notes.push(`${c.name}: ${c.seconds === null ? 'never within the run' : `${c.seconds.toFixed(2)} s`} > ${spec.convergeS} s`);
  const lost = windows.some((v) => !v.met) || convergence.some((c) => !c.met) || windows.length < WINDOWS.length;
  const remarks = runs.some((r) => (r.clientErrors ?? 0) > 0)
    ? [`clients got errors (counted in the p99s as answers): ${runs.map((r) => `${r.target} ${r.clientErrors ?? 0}`).join(', ')}`]
    : [];
  return { status: lost ? 'lost' : 'won', windows, convergence, notes, remarks };
}
