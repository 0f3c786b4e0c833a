// One target's run of one cell on a running fleet: set the faults, start
// the target fresh (infergate: a new balancer on its defaults, load as soon
// as it lists every endpoint; nginx or HAProxy: a new process), poll the
// sidecars every poll_ms while h2load offers the load, fire the cell's
// mid-run events (turn slow, recover, join), then stop the target and
// hand back what was recorded (run-figures.ts computes the figures).
import { machineBusySeconds, ownCpuSeconds, startHaproxy, startInfergate, startNginx, stopAll, type Target } from '../lib/peers';
import { infergatesCpuSeconds } from '../scenario/own-processes';
import type { Poll } from './analysis';
import { HEALTHY, pollFleet, setFault, type Fleet } from './fleet';
import { runH2load } from './h2load';
import type { Cell, MatrixSpec } from './matrix-config';
import type { RawRun } from './run-figures';

export const TARGETS = ['infergate', 'nginx', 'haproxy'] as const;
export type TargetName = (typeof TARGETS)[number];

export interface RunPlan {
  readonly fleet: Fleet;
  readonly cell: Cell;
  readonly rate: number;
  readonly spec: MatrixSpec;
  /** Seconds a joiner takes from spawn to ready, measured when its fleet started: it is spawned that early. */
  readonly joinLeadS: number;
  readonly verbose: boolean;
}

export interface RecordedRun extends RawRun {
  readonly rpsPerClient: number;
  readonly h2loadSummary: string;
  readonly h2loadWallS: number;
  readonly targetCpuSeconds: number;
  /** Average busy cores of processes this benchmark did not start, during the load. */
  readonly otherCores: number;
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, Math.max(0, ms)));

/** The balancer's final statuses for ranker from its /metrics. */
async function balancerStatuses(metricsPort: number): Promise<Record<string, number>> {
  const text = await (await fetch(`http://127.0.0.1:${metricsPort}/metrics`)).text();
  const out: Record<string, number> = {};
  for (const line of text.split('\n')) {
    const m = /^infergate_balancer_requests_total\{([^}]*)\} (\d+)/.exec(line);
    if (!m || !/model="ranker"/.test(m[1])) continue;
    const status = /status="([A-Z_]+)"/.exec(m[1])?.[1] ?? '?';
    out[status] = (out[status] ?? 0) + Number(m[2]);
  }
  return out;
}

/** Polls the fleet every pollMs until stopped; the polls keep their send times. */
function startPoller(fleet: Fleet, pollMs: number): { polls: Poll[]; first: Promise<void>; stop(): Promise<void> } {
  const polls: Poll[] = [];
  let running = true;
  let firstDone: () => void = () => undefined;
  const first = new Promise<void>((resolve) => (firstDone = resolve));
  const loop = (async () => {
    const start = Date.now();
    for (let k = 0; running; k++) {
      polls.push(await pollFleet(fleet, polls[polls.length - 1]));
      if (k === 0) firstDone();
      // Paced by the schedule, not by "pollMs after the last answer": a slow poll must not stretch the windows.
      await sleep(start + (k + 1) * pollMs - Date.now());
    }
  })();
  return { polls, first, stop: async () => ((running = false), await loop) };
}

/** Runs one target through one cell; the target is started and stopped here, the fleet is not. */
export async function runTarget(target: TargetName, plan: RunPlan): Promise<RecordedRun> {
  const { fleet, cell, spec } = plan;
  const n = fleet.sidecars.length;
  const slowIndex = n - 1;
  const joining = cell.special === 'join';
  // Faults first, so the target's first call already meets the slow sidecar (slowmid turns it slow later).
  const slowNow =
    cell.slow && cell.special !== 'slowmid' ? { delay_ms: cell.slow.delayMs, abort_percent: cell.slow.abortPercent } : undefined;
  await Promise.all(fleet.sidecars.flatMap((s, i) => (s.child ? [setFault(s, i === slowIndex && slowNow ? slowNow : HEALTHY)] : [])));
  const up = fleet.sidecars.filter((s) => s.child).map((s) => s.grpcPort);
  const peerOpts = joining ? { joining: [fleet.sidecars[slowIndex].grpcPort] } : {};
  const starters: Record<TargetName, () => Promise<Target>> = {
    infergate: () => startInfergate(fleet.discoveryPort, up.length, plan.verbose),
    nginx: () => startNginx(up, plan.verbose, peerOpts),
    haproxy: () => startHaproxy(up, plan.verbose, peerOpts),
  };
  const t = await starters[target]();
  const events: Record<string, number> = {};
  const timers: NodeJS.Timeout[] = [];
  let joined: Promise<unknown> = Promise.resolve();
  const at = (s: number, name: string, f: () => Promise<unknown>) =>
    timers.push(setTimeout(() => void f().then(() => (events[name] = Date.now())), s * 1000));
  const poller = startPoller(fleet, spec.load.pollMs);
  try {
    await poller.first; // a baseline before the first request; then the load starts at once
    const [busy0, mine0, ig0, cpu0, w0] = [machineBusySeconds(), ownCpuSeconds(), infergatesCpuSeconds(), t.cpuSeconds(), Date.now()];
    const run = await runH2load({
      port: t.port,
      rate: plan.rate,
      seconds: cell.seconds,
      clients: spec.load.clients,
      maxStreams: spec.load.maxStreams,
      onStart: () => {
        const slow = fleet.sidecars[slowIndex];
        if (cell.special === 'slowmid') {
          at(spec.slowmid.slowAtS, 'slow', () => setFault(slow, { delay_ms: spec.slowmid.delayMs, abort_percent: 0 }));
          at(spec.slowmid.recoverAtS, 'recover', () => setFault(slow, HEALTHY));
        }
        const join = () => {
          events.join_spawn = Date.now();
          joined = fleet.startJoiner().then(() => (events.join_ready = Date.now()));
        };
        if (joining) timers.push(setTimeout(join, Math.max(0, spec.join.joinAtS - plan.joinLeadS) * 1000));
      },
    });
    const wallS = (Date.now() - w0) / 1000;
    const [busy1, mine1, ig1, cpu1] = [machineBusySeconds(), ownCpuSeconds(), infergatesCpuSeconds(), t.cpuSeconds()];
    await sleep(spec.load.pollMs * 2); // answers counted after h2load's last one
    await poller.stop();
    await joined;
    const statuses = t.metricsPort === undefined ? undefined : await balancerStatuses(t.metricsPort);
    return {
      target,
      samples: run.samples,
      requested: run.requested,
      polls: poller.polls,
      events,
      ...(statuses && { balancerStatuses: statuses }),
      rpsPerClient: run.rpsPerClient,
      h2loadSummary: run.summary,
      h2loadWallS: run.wallS,
      targetCpuSeconds: cpu1 - cpu0,
      otherCores: Math.max(0, busy1 - busy0 - (mine1 - mine0) - (ig1 - ig0)) / wallS,
    };
  } finally {
    for (const x of timers) clearTimeout(x);
    await poller.stop();
    await joined.catch(() => undefined);
    await stopAll(3000);
    if (joining) await fleet.stopJoiner();
  }
}
