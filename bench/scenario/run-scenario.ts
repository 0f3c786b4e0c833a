// PLACEHOLDER, replaced by the scenario runner: reads a scenario file, starts its topology, runs its phases, writes the report.
import type { Report, ScenarioRunOptions } from '../harness/types';

/** Runs the scenario in `file`; resolves with its report (also written where opts ask). */
export async function runScenario(file: string, _opts: ScenarioRunOptions): Promise<Report> {
  throw new Error(`scenarios are not implemented yet (${file})`);
}
