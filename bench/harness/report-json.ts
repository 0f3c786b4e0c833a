// The JSON report: the Report object as is (bench/harness/types.ts), with
// its schema beside it in report.schema.json (versioned by REPORT_SCHEMA).
// Every result keeps its merged HDR histogram, so reports from separate runs
// can be merged or re-cut at other percentiles later without loss.
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import * as os from 'node:os';
import * as path from 'node:path';
import { validate, type Schema } from './schema-check';
import { REPORT_SCHEMA, type LoadResult, type Report } from './types';

/** report.schema.json, found from both the sources (ts) and the build (dist/). */
export const REPORT_SCHEMA_FILE = path.resolve(
  __dirname,
  __dirname.includes(`${path.sep}dist${path.sep}`) ? '../../../bench/harness/report.schema.json' : 'report.schema.json',
);

/** A report of these results, stamped with this machine and the time. */
export function buildReport(results: readonly LoadResult[], extra: { scenario?: string; notes?: readonly string[] } = {}): Report {
  return {
    schema: REPORT_SCHEMA,
    createdAt: new Date().toISOString(),
    machine: { cpus: os.cpus().length, node: process.version, platform: `${process.platform}-${process.arch}` },
    ...(extra.scenario !== undefined && { scenario: extra.scenario }),
    ...(extra.notes !== undefined && { notes: extra.notes }),
    results,
  };
}

/** The report schema, parsed. */
export async function reportSchema(): Promise<Schema> {
  return JSON.parse(await readFile(REPORT_SCHEMA_FILE, 'utf8')) as Schema;
}

/** Problems with a parsed report against the schema; empty when it validates. */
export async function checkReport(report: unknown): Promise<string[]> {
  return validate(await reportSchema(), report);
}

/** Writes the report as JSON (creating the directory); refuses one that does not match its schema. */
export async function writeJsonReport(report: Report, file: string): Promise<void> {
  const problems = await checkReport(JSON.parse(JSON.stringify(report)));
  if (problems.length) throw new Error(`report does not match ${REPORT_SCHEMA}: ${problems.slice(0, 5).join('; ')}`);
  await mkdir(path.dirname(path.resolve(file)), { recursive: true });
  await writeFile(file, `${JSON.stringify(report, null, 2)}\n`);
}
