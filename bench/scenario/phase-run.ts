// One load phase against one running target, with what the LoadResult
// cannot see: the target's CPU per request, the sidecars' CPU, the
// generator's own CPU, how the calls spread over the sidecars, and the
// machine's other load (the machine is shared). Every counter is read around
// the same runLoad call (warm-up, measured time and drain), and the
// per-request figures divide by the calls the sidecars finished in that same
// window, so the ratio holds whatever the warm-up length.
import * as os from 'node:os';
import type { LoadOptions, LoadResult, TickStats } from '../harness/types';
import { machineBusySeconds, ownCpuSeconds } from '../lib/peers';
import { infergatesCpuSeconds } from './own-processes';
import type { PhaseSpec } from './scenario-config';
import type { RunningTarget, RunningTopology } from './topology';

/** Runs one load phase (the load engine's runLoad, or a stand-in in tests). */
export type RunLoad = (opts: LoadOptions) => Promise<LoadResult>;

/** CPU and spread around one phase; per-request figures are µs per call the sidecars finished. */
export interface PhaseCost {
  readonly targetUsPerRequest: number;
  /** The target's busy cores, averaged over the window. */
  readonly targetCores: number;
  readonly sidecarsUsPerRequest: number;
  readonly generatorUsPerRequest: number;
  /** Share of calls each sidecar finished, in sidecar order. */
  readonly perSidecarShare: readonly number[];
  /** Busy cores of processes this run did not start. */
  readonly otherCores: number;
}

/** A phase's result and its one-line note for the report. */
export interface PhaseOutcome {
  readonly result: LoadResult;
  readonly cost: PhaseCost;
  readonly note: string;
}

/** A steps phase stops after a step below this share of its offered rate (the queue is growing)... */
const KEEPS_UP = 0.9;
/** ...or with a p99 past the fleet target's SLO (1 s): answers that come in the drain still count as achieved. */
const SATURATED_P99_MS = 1000;

/** Whether a step kept up with its offered load (answered >= 90 %, errors <= 1 %, p99 < 1 s); undefined when it did, else why not. */
export function saturation(r: LoadResult): string | undefined {
  // Not the generator's own flag: it trips on a few late sends, and a generator that really falls behind shows in p99 anyway.
  if (r.errorRate > 0.01) return `errors ${(100 * r.errorRate).toFixed(2)} %`;
  if (r.offeredRate !== null && r.achievedRate < KEEPS_UP * r.offeredRate)
    return `answered ${r.achievedRate.toFixed(0)}/s of ${r.offeredRate}/s`;
  if (r.latencyMs.p99 >= SATURATED_P99_MS) return `p99 ${r.latencyMs.p99.toFixed(0)} ms`;
  return undefined;
}

/** The LoadOptions of a phase at one rate (or its concurrency), with the target's address for the mode. */
export function loadOptions(
  p: PhaseSpec,
  t: RunningTarget,
  label: string,
  rate: number | undefined,
  onTick?: (t: TickStats) => void,
): LoadOptions {
  const address = p.mode === 'rest' ? t.http : t.grpc;
  if (!address) throw new Error(`${t.name} does not serve ${p.mode}`);
  return {
    target: address,
    label,
    model: p.model,
    ...(p.version !== undefined && { version: p.version }),
    mode: p.mode,
    ...(rate !== undefined ? { rate } : { concurrency: p.concurrency }),
    durationMs: p.durationMs,
    warmupMs: p.warmupMs,
    connections: p.connections,
    workers: p.workers,
    ...(p.drainMs !== undefined && { drainMs: p.drainMs }),
    ...(onTick && { onTick }),
  };
}

const selfCpu = () => {
  const u = process.cpuUsage();
  return (u.user + u.system) / 1e6;
};

/** Runs a phase at one rate (undefined: its concurrency) after its prime, if any, and measures its cost; shownAs names the target in the note. */
export async function runPhase(
  p: PhaseSpec,
  topo: RunningTopology,
  label: string,
  shownAs: string,
  rate: number | undefined,
  run: RunLoad,
  onTick?: (t: TickStats) => void,
): Promise<PhaseOutcome> {
  const target = topo.targets.get(p.target);
  if (!target) throw new Error(`${p.target} is not running`);
  if (p.primeMs > 0) {
    // Unreported: it only teaches the balancer the sidecars' latencies (see bench/scenarios/skew.yaml).
    await run({ ...loadOptions(p, target, `${label} (prime)`, rate, onTick), durationMs: p.primeMs, warmupMs: 0 });
  }
  const served0 = await topo.served();
  const [t0, tc0, sc0, g0, busy0, mine0, ig0] = [
    performance.now(),
    target.cpuSeconds(),
    topo.sidecarsCpuSeconds(),
    selfCpu(),
    machineBusySeconds(),
    ownCpuSeconds(),
    infergatesCpuSeconds(),
  ];
  const result = await run(loadOptions(p, target, label, rate, onTick));
  const [tc1, sc1, g1, busy1, mine1, ig1] = [
    target.cpuSeconds(),
    topo.sidecarsCpuSeconds(),
    selfCpu(),
    machineBusySeconds(),
    ownCpuSeconds(),
    infergatesCpuSeconds(),
  ];
  const seconds = (performance.now() - t0) / 1000;
  const served = (await topo.served()).map((n, i) => n - served0[i]);
  const calls = Math.max(
    1,
    served.reduce((a, b) => a + b, 0),
  );
  const us = (cpuSeconds: number) => (cpuSeconds * 1e6) / calls;
  const cost: PhaseCost = {
    targetUsPerRequest: us(tc1 - tc0),
    targetCores: (tc1 - tc0) / seconds,
    // A direct sidecar target is its own proxy: its CPU is the target's, not counted twice as "sidecars".
    sidecarsUsPerRequest: us(sc1 - sc0),
    generatorUsPerRequest: us(g1 - g0),
    perSidecarShare: served.map((n) => n / calls),
    // Busy CPU of the whole machine minus this process, the peers (ownCpuSeconds counts both) and the infergate processes.
    otherCores: Math.max(0, busy1 - busy0 - (mine1 - mine0) - (ig1 - ig0)) / seconds,
  };
  return { result, cost, note: describe(label, shownAs, cost) };
}

function describe(label: string, target: string, c: PhaseCost): string {
  const f = (x: number) => x.toFixed(0);
  const direct = target.startsWith('sidecar:');
  const spread =
    c.perSidecarShare.length > 1 ? `; calls per sidecar ${c.perSidecarShare.map((s) => `${(100 * s).toFixed(1)} %`).join(' / ')}` : '';
  return (
    `${label}: ${direct ? `${target} (direct)` : target} CPU ${f(c.targetUsPerRequest)} µs/req (${c.targetCores.toFixed(2)} cores)` +
    `${direct ? '' : `, sidecars ${f(c.sidecarsUsPerRequest)} µs/req`}, generator ${f(c.generatorUsPerRequest)} µs/req${spread}; ` +
    `other load ${c.otherCores.toFixed(2)} of ${os.cpus().length} cores`
  );
}
