// `infergate bench --scenario FILE`: reads a scenario file
// (scenario-config.ts), starts its topology, runs its phases in order against
// each target, and writes one report comparing them. Everything started is
// stopped on the way out: after the last phase, on an error, and on Ctrl-C
// (bench/lib/peers.ts turns SIGINT into exit, and every process started here
// is killed by an exit handler).
import * as os from 'node:os';
import { runLoad } from '../harness/load';
import { liveLine } from '../harness/live-line';
import { writeHtmlReport } from '../harness/report-html';
import { buildReport, writeJsonReport } from '../harness/report-json';
import { formatReportTable } from '../harness/report-table';
import type { LoadResult, Report, ScenarioRunOptions } from '../harness/types';
import { loadScenario, targetName, type PhaseSpec, type Scenario } from './scenario-config';
import type { PhaseOutcome } from './phase-run';
import type { RunningTopology } from './topology';

// topology.ts and phase-run.ts load bench/lib/peers.ts, which turns SIGINT/SIGTERM into exit for the process
// that loads it. The CLI loads this file for every subcommand (cli/main.ts), so they are loaded only when a
// scenario runs: a sidecar or balancer must keep its own SIGTERM drain.
const topology = () => import('./topology');
const phaseRun = () => import('./phase-run');

/** The phases as they will run: smoke-run overrides applied (a warm-up override also replaces any prime). */
export function effectivePhases(sc: Scenario, opts: Pick<ScenarioRunOptions, 'durationMs' | 'warmupMs'>): PhaseSpec[] {
  return sc.phases.map((p) => ({
    ...p,
    ...(opts.durationMs !== undefined && { durationMs: opts.durationMs }),
    ...(opts.warmupMs !== undefined && { warmupMs: opts.warmupMs, primeMs: 0 }),
  }));
}

/** Upper bound on a scenario's load time, s (every step of every phase, no early stop), for the start-up line. */
export function plannedSeconds(phases: readonly PhaseSpec[]): number {
  return phases.reduce((a, p) => a + p.primeMs / 1000 + ((p.steps?.length ?? 1) * (p.warmupMs + p.durationMs)) / 1000, 0);
}

const uptime = () =>
  os
    .loadavg()
    .map((x) => x.toFixed(2))
    .join(' ');

/**
 * Runs every phase in order; a phase whose target is not running (a skipped peer) is noted and passed over, and
 * a phase that fails is noted and ends (the phases after it still run). Resolves with the failed phases' labels.
 */
async function runPhases(
  sc: Scenario,
  phases: readonly PhaseSpec[],
  topo: RunningTopology,
  quiet: boolean,
  results: LoadResult[],
  notes: string[],
): Promise<string[]> {
  const { runPhase, saturation } = await phaseRun();
  const failed: string[] = [];
  for (const p of phases) {
    if (!topo.targets.has(p.target)) {
      notes.push(`${p.label}: not run (${targetName(p.target, sc.topology)} is not running)`);
      continue;
    }
    const steps = p.steps ?? [p.rate];
    for (const rate of steps) {
      const label = p.steps ? `${p.label} @${rate}/s` : p.label;
      const line = liveLine(quiet);
      let out: PhaseOutcome;
      try {
        out = await runPhase(p, topo, label, targetName(p.target, sc.topology), rate, runLoad, line);
      } catch (e) {
        failed.push(label);
        notes.push(`${label}: FAILED, ${e instanceof Error ? e.message : String(e)}`);
        break;
      } finally {
        line.end();
      }
      results.push(out.result);
      notes.push(out.note);
      const why = p.steps && p.stopAtSaturation ? saturation(out.result) : undefined;
      if (why && rate !== steps[steps.length - 1]) {
        notes.push(`${p.label}: stopped stepping at ${rate}/s, saturated: ${why}`);
        break;
      }
    }
  }
  return failed;
}

/**
 * Runs the scenario in `file`; resolves with its report (also written where opts ask). When a phase failed, the
 * report of the others is still written and printed, then the promise rejects naming the failed phases.
 */
export async function runScenario(file: string, opts: ScenarioRunOptions): Promise<Report> {
  const sc = await loadScenario(file);
  const phases = effectivePhases(sc, opts);
  const models = [...new Set(phases.map((p) => p.model))];
  process.stderr.write(
    `scenario ${sc.name}: ${phases.length} phase(s), at most ${plannedSeconds(phases).toFixed(0)} s of load after start-up\n`,
  );
  const notes: string[] = sc.description ? [sc.description] : [];
  const results: LoadResult[] = [];
  const load0 = uptime();
  let failed: string[];
  const { startTopology, stopTopology } = await topology();
  try {
    const topo = await startTopology(sc.topology, models);
    notes.push(...topo.notes);
    failed = await runPhases(sc, phases, topo, opts.quiet, results, notes);
  } finally {
    await stopTopology();
  }
  notes.push(
    `machine: load average (1, 5, 15 min) ${load0} at start, ${uptime()} at end; the machine may be shared, see each phase's "other load"`,
  );
  const report = buildReport(results, { scenario: sc.name, notes });
  if (opts.json) await writeJsonReport(report, opts.json);
  if (opts.html) await writeHtmlReport(report, opts.html);
  // The table shows the load engine's figures; the notes carry what the scenario measured around them (CPU, spread, skips).
  process.stdout.write(`${formatReportTable(report)}\n\n${notes.map((n) => `- ${n}`).join('\n')}\n`);
  if (failed.length)
    throw new Error(
      `scenario ${sc.name}: ${failed.length} phase(s) failed (${failed.join(', ')}); the report holds the rest and the reasons`,
    );
  return report;
}
