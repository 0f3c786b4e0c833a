// infergate processes a scenario starts itself (discovery, sidecars with any
// fault flags, balancers with --workers), beside the peers bench/lib/peers.ts
// tracks. Each runs detached, leading its own process group, so stopping it
// reaches a --workers balancer's forked workers too, and an exit of this
// process for any reason (an error, Ctrl-C through peers.ts's handler,
// process.exit) kills every group still running.
import { spawn, type ChildProcess } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { CLI, cpuSeconds, stop } from '../../testkit/processes';

const live = new Set<ChildProcess>();

function killGroup(c: ChildProcess): void {
  try {
    if (c.pid !== undefined) process.kill(-c.pid, 'SIGKILL');
  } catch {
    // already gone
  }
}

process.on('exit', () => {
  for (const c of live) killGroup(c);
});

/** Starts `infergate <args>` in its own process group; stderr is inherited, stdout only when verbose. */
export function spawnInfergate(args: string[], verbose = false): ChildProcess {
  const child = spawn(process.execPath, [CLI, ...args], {
    stdio: ['ignore', verbose ? 'inherit' : 'ignore', 'inherit'],
    env: { ...process.env, INFERGATE_LOG_LEVEL: verbose ? 'info' : 'warn' },
    detached: true,
  });
  live.add(child);
  // The group is killed after the leader exits too: a --workers primary killed hard would leave its workers.
  child.once('exit', () => (killGroup(child), live.delete(child)));
  return child;
}

/** SIGTERM to every process started here (each drains), then SIGKILL to its group after graceMs. */
export async function stopInfergates(graceMs = 5000): Promise<void> {
  await Promise.all(
    [...live].map(async (c) => {
      await stop(c, graceMs);
      killGroup(c);
    }),
  );
}

/** The direct children's pids of a process (a --workers primary's workers, nginx's worker); [] when unreadable. */
function childPids(pid: number): number[] {
  try {
    return readFileSync(`/proc/${pid}/task/${pid}/children`, 'utf8').split(' ').filter(Boolean).map(Number);
  } catch {
    return [];
  }
}

/** User+system CPU seconds of a process and its direct children so far; 0 once it is gone. */
export function treeCpuSeconds(pid: number): number {
  let total = 0;
  for (const p of [pid, ...childPids(pid)]) {
    try {
      total += cpuSeconds(p);
    } catch {
      // exited between listing and reading
    }
  }
  return total;
}

/** CPU seconds so far of every live process started here (for "other load": CPU this run did not cause). */
export function infergatesCpuSeconds(): number {
  let total = 0;
  for (const c of live) if (c.pid !== undefined && c.exitCode === null) total += treeCpuSeconds(c.pid);
  return total;
}
