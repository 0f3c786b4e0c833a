// The generator's own ceiling: the highest open-loop rate it can offer on
// this machine and keep up, against the trivial server
// (bench/harness/trivial-server.ts, in its own process, answering at once).
// Per mode and worker count: double the rate until a step fails, then
// bisect. A step keeps up when it made >= 98 % of its sends, never fell more
// than 2 % of the run behind, and the server answered >= 98 % with a p99
// under 100 ms (a queue is growing past that, on one side or the other; the
// server's CPU, from /proc, says which side). Each step's share of
// sends > 1 ms late is kept too: the "on time" column is the highest rate
// tried with <= 1 % of them (the strict reading of the generator's own flag).
//
//   node dist/bench/harness/ceiling.js [--seconds 3] [--modes unary,stream] [--workers 1,2] [--json out.json]
import { spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import * as path from 'node:path';
import { parseArgs } from 'node:util';
import { runLoad } from './load';
import { buildReport, writeJsonReport } from './report-json';
import { fmtMs, fmtRate } from './report-table';
import type { LoadMode, LoadResult } from './types';

/** Why a step did not keep up, or undefined when it did. */
function failure(r: LoadResult): string | undefined {
  const expected = (r.offeredRate! * r.durationMs) / 1000;
  if (r.sent < 0.98 * expected || r.generator.maxLagMs > 0.02 * r.durationMs) {
    return `generator behind (sent ${r.sent} of ${Math.round(expected)}, max lag ${fmtMs(r.generator.maxLagMs)} ms)`;
  }
  if (r.achievedRate < 0.98 * r.offeredRate!) return `answers behind (${fmtRate(r.achievedRate)}/s)`;
  if (r.latencyMs.p99 > 100) return `queueing (p99 ${fmtMs(r.latencyMs.p99)} ms)`;
  return undefined;
}

/** The step's lateness, for the log and the table. */
const lateness = (r: LoadResult) =>
  `${(100 * r.generator.lateFraction).toFixed(1)} % > 1 ms late, lag p99 ${fmtMs(r.generator.lagP99Ms ?? 0)} ms`;

/** CPU seconds a process has used (Linux /proc; utime + stime at 100 ticks/s). */
function cpuSeconds(pid: number): number {
  const f = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1].split(' ');
  return (Number(f[11]) + Number(f[12])) / 100;
}

/** The trivial gRPC server in a child process; resolves with its port, pid and a stop function. */
async function startServer(): Promise<{ port: number; pid: number; stop: () => void }> {
  const child = spawn(process.execPath, [path.join(__dirname, 'trivial-server.js'), 'grpc'], { stdio: ['ignore', 'pipe', 'inherit'] });
  const port = await new Promise<number>((resolve, reject) => {
    child.once('exit', (c) => reject(new Error(`trivial server exited (${c})`)));
    child.stdout.once('data', (d: Buffer) => resolve(Number(String(d).trim())));
  });
  return { port, pid: child.pid!, stop: () => child.kill() };
}

/** One row of the ceiling table. */
interface Ceiling {
  readonly mode: LoadMode;
  readonly workers: number;
  readonly best: LoadResult | undefined;
  readonly failedAt: LoadResult | undefined;
  readonly why: string;
  /** The highest rate tried with <= 1 % of sends > 1 ms late. */
  readonly onTime: LoadResult | undefined;
  /** Cores the server used during the best step. */
  readonly serverCores: number;
}

async function search(
  server: { port: number; pid: number },
  mode: LoadMode,
  workers: number,
  seconds: number,
  all: LoadResult[],
): Promise<Ceiling> {
  const port = server.port;
  let serverCores = 0;
  let lo: LoadResult | undefined;
  let hi: LoadResult | undefined;
  let onTime: LoadResult | undefined;
  let why = '';
  let rate = 250;
  for (let step = 0; step < 16; step++) {
    const cpu0 = cpuSeconds(server.pid);
    const wall0 = performance.now();
    const r = await runLoad({
      target: `127.0.0.1:${port}`,
      label: `${mode} ×${workers} @${rate}/s`,
      model: 'ranker',
      mode,
      rate,
      durationMs: seconds * 1000,
      warmupMs: 1000,
      connections: 2,
      workers,
      drainMs: 3000,
    });
    const cores = (cpuSeconds(server.pid) - cpu0) / ((performance.now() - wall0) / 1000);
    all.push(r);
    const f = failure(r);
    process.stderr.write(
      `ceiling: ${mode}, ${workers} worker(s), ${rate}/s: ${f ?? 'keeps up'} (p99 ${fmtMs(r.latencyMs.p99)} ms, ` +
        `generator ${r.generator.cpuCores.toFixed(2)} cores, server ${cores.toFixed(2)}, ${lateness(r)})\n`,
    );
    if (!f && r.generator.lateFraction <= 0.01 && r.offeredRate! > (onTime?.offeredRate ?? 0)) onTime = r;
    if (f) [hi, why] = [r, f];
    else [lo, serverCores] = [r, cores];
    const loRate = lo?.offeredRate ?? 0;
    if (!hi) rate *= 2;
    else if (hi.offeredRate! - loRate <= 0.1 * hi.offeredRate!) break;
    else rate = Math.round((loRate + hi.offeredRate!) / 2 / 100) * 100 || Math.round(hi.offeredRate! / 2);
    if (rate === loRate || rate === hi?.offeredRate) break;
  }
  return { mode, workers, best: lo, failedAt: hi, why, onTime, serverCores };
}

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      seconds: { type: 'string', default: '3' },
      modes: { type: 'string', default: 'unary,stream' },
      workers: { type: 'string', default: '1,2' },
      json: { type: 'string' },
    },
  });
  const seconds = Number(values.seconds);
  const server = await startServer();
  const all: LoadResult[] = [];
  const rows: Ceiling[] = [];
  try {
    for (const mode of values.modes!.split(',') as LoadMode[]) {
      for (const w of values.workers!.split(',').map(Number)) rows.push(await search(server, mode, w, seconds, all));
    }
  } finally {
    server.stop();
  }
  const lines = [
    '| mode | workers | keeps up to req/s | p99 ms there | generator / server cores there | late sends there | next step | why it failed | on time (<= 1 % > 1 ms late) up to req/s |',
    '| --- | --- | --- | --- | --- | --- | --- | --- | --- |',
  ];
  for (const c of rows) {
    const b = c.best;
    lines.push(
      `| ${c.mode} | ${c.workers} | ${b ? fmtRate(b.offeredRate!) : '-'} | ${b ? fmtMs(b.latencyMs.p99) : '-'} | ${b ? `${b.generator.cpuCores.toFixed(2)} / ${c.serverCores.toFixed(2)}` : '-'} | ` +
        `${b ? lateness(b) : '-'} | ${c.failedAt ? fmtRate(c.failedAt.offeredRate!) : '(none failed)'} | ${c.why} | ${c.onTime ? fmtRate(c.onTime.offeredRate!) : 'none tried'} |`,
    );
  }
  process.stdout.write(`${lines.join('\n')}\n`);
  if (values.json) await writeJsonReport(buildReport(all, { scenario: 'generator-ceiling', notes: lines }), values.json);
}

main().catch((e: unknown) => {
  process.stderr.write(`ceiling: ${e instanceof Error ? e.message : String(e)}\n`);
  process.exit(1);
});
