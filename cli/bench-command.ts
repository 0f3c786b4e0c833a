// `infergate bench`: load against one Open Inference Protocol endpoint (open
// loop at a rate, or closed loop at a concurrency), a scenario file
// (topology + phases + peers, bench/scenario/), or a search for the highest
// rate that meets a p99 SLO. Prints a table at the end; JSON and HTML reports
// on request. The load engine is bench/harness/.
import { readFile } from 'node:fs/promises';
import { positiveInt, nonNegative, text, UsageError, type CommandSpec, type FlagSpec, type FlagValues } from '../common/flags';
import { liveLine, liveWanted } from '../bench/harness/live-line';
import { runLoad } from '../bench/harness/load';
import { writeHtmlReport } from '../bench/harness/report-html';
import { buildReport, writeJsonReport } from '../bench/harness/report-json';
import { formatReportTable } from '../bench/harness/report-table';
import { parseDuration } from '../bench/harness/schedule';
import type { LoadMode, LoadOptions, LoadResult } from '../bench/harness/types';
import { findMax } from '../bench/scenario/find-max';
import { runScenario } from '../bench/scenario/run-scenario';

const MODES: readonly LoadMode[] = ['unary', 'stream', 'rest'];
const mode = (raw: string): LoadMode => {
  if (!(MODES as readonly string[]).includes(raw)) throw new Error(`'${raw}' is not a mode; expected ${MODES.join(', ')}`);
  return raw as LoadMode;
};
const positive = (raw: string): number => {
  const n = nonNegative(raw);
  if (n === 0) throw new Error(`'${raw}' must be > 0`);
  return n;
};
const share = (raw: string): number => {
  const n = nonNegative(raw);
  if (n > 1) throw new Error(`'${raw}' is a share; expected 0-1`);
  return n;
};
const duration = (raw: string): number => parseDuration(raw);
const opt = <T>(f: Omit<FlagSpec<T | undefined>, 'default'>) => ({ ...f, default: undefined }) as FlagSpec<T | undefined>;

/** The flags of `infergate bench` (every one in --help). */
export const benchSpec = {
  name: 'bench',
  summary:
    'Load an endpoint open loop (or closed loop), run a scenario file, or find the highest rate meeting a p99 SLO; HDR percentiles, reports.',
  flags: {
    target: opt<string>({
      name: 'target',
      arg: 'HOST:PORT',
      help: 'Endpoint to load: gRPC (unary, stream) or HTTP (rest). Required without --scenario.',
      parse: text,
    }),
    model: { name: 'model', arg: 'NAME', help: 'Model to call.', default: 'ranker', parse: text } as FlagSpec<string>,
    version: opt<string>({ name: 'version', arg: 'V', help: "Model version (default: the server's choice).", parse: text }),
    mode: {
      name: 'mode',
      arg: 'MODE',
      help: 'unary (ModelInfer), stream (ModelStreamInfer) or rest (POST /v2/models/M/infer, through autocannon, closed loop).',
      default: 'unary',
      parse: mode,
    } as FlagSpec<LoadMode>,
    rate: opt<number>({
      name: 'rate',
      arg: 'QPS',
      help: 'Open loop: requests per second on a fixed schedule; latency from each scheduled send.',
      parse: positive,
    }),
    closedLoop: {
      name: 'closed-loop',
      help: 'Closed loop instead: --concurrency callers, each waiting for its answer (hides stalls; labelled so).',
      default: false,
    } as FlagSpec<boolean>,
    concurrency: opt<number>({ name: 'concurrency', arg: 'N', help: 'Callers of a closed loop (with --closed-loop).', parse: positiveInt }),
    duration: opt<number>({
      name: 'duration',
      arg: 'DUR',
      help: "Measured time, e.g. 30s, 500ms, 2m (default 30s; with --scenario: overrides every phase's).",
      parse: duration,
    }),
    warmup: opt<number>({
      name: 'warmup',
      arg: 'DUR',
      help: "Unmeasured load first, same schedule (default 5s; with --scenario: overrides every phase's).",
      parse: duration,
    }),
    drain: opt<number>({
      name: 'drain',
      arg: 'DUR',
      help: 'After the last send, how long answers may take before they count as unfinished (default 10s).',
      parse: duration,
    }),
    connections: {
      name: 'connections',
      arg: 'N',
      help: 'HTTP/2 (or HTTP/1.1 for rest) connections per worker; unary calls and stream messages spread over them.',
      default: 2,
      parse: positiveInt,
    } as FlagSpec<number>,
    workers: {
      name: 'workers',
      arg: 'N',
      help: 'Load-generating worker threads, each with its share of the rate or callers and its own connections.',
      default: 1,
      parse: positiveInt,
    } as FlagSpec<number>,
    payload: opt<string>({
      name: 'payload',
      arg: 'FILE',
      help: 'Request to send: a serialized ModelInferRequest (gRPC) or a JSON body (rest). Default: one ranker row.',
      parse: text,
    }),
    label: opt<string>({ name: 'label', arg: 'TEXT', help: 'Name of the target in reports (default: the target).', parse: text }),
    json: opt<string>({
      name: 'json',
      arg: 'FILE',
      help: 'Write the JSON report here (schema: bench/harness/report.schema.json).',
      parse: text,
    }),
    html: opt<string>({ name: 'html', arg: 'FILE', help: 'Write a self-contained HTML report here (charts inline).', parse: text }),
    quiet: {
      name: 'quiet',
      help: 'No live line (it is off anyway when stderr is not a terminal or CI is set).',
      default: false,
    } as FlagSpec<boolean>,
    scenario: opt<string>({
      name: 'scenario',
      arg: 'FILE',
      help: 'Run a scenario file (topology, phases, peers; bench/scenarios/) instead of one phase.',
      parse: text,
    }),
    findMax: {
      name: 'find-max',
      help: 'Search for the highest open-loop rate whose p99 meets --slo-p99; prints it.',
      default: false,
    } as FlagSpec<boolean>,
    sloP99: opt<number>({ name: 'slo-p99', arg: 'DUR', help: 'With --find-max: the p99 to stay under, e.g. 1s or 50ms.', parse: duration }),
    maxErrorRate: {
      name: 'max-error-rate',
      arg: 'SHARE',
      help: 'With --find-max: the largest share of errors a passing rate may have.',
      default: 0.001,
      parse: share,
    } as FlagSpec<number>,
    startRate: {
      name: 'start-rate',
      arg: 'QPS',
      help: 'With --find-max: the first rate tried (doubling from there).',
      default: 100,
      parse: positive,
    } as FlagSpec<number>,
    maxRate: opt<number>({ name: 'max-rate', arg: 'QPS', help: 'With --find-max: never offer more than this.', parse: positive }),
  },
} satisfies CommandSpec<Record<string, FlagSpec<unknown>>>;

type Flags = FlagValues<typeof benchSpec.flags>;

const HELP = "Run 'infergate bench --help' for the flags.";

/** The one phase the flags describe, minus rate/concurrency (checked: a target, and no scenario flags). */
async function baseLoad(f: Flags, quiet: boolean): Promise<Omit<LoadOptions, 'rate' | 'concurrency'>> {
  if (!f.target) throw new UsageError(`--target HOST:PORT is required (or --scenario FILE)\n${HELP}`);
  const payload = f.payload ? await readFile(f.payload) : undefined;
  return {
    target: f.target,
    model: f.model,
    mode: f.mode,
    durationMs: f.duration ?? 30_000,
    warmupMs: f.warmup ?? 5_000,
    drainMs: f.drain ?? 10_000,
    connections: f.connections,
    workers: f.workers,
    onTick: liveLine(quiet),
    ...(f.label !== undefined && { label: f.label }),
    ...(f.version !== undefined && { version: f.version }),
    ...(payload && { payload }),
  };
}

/** Prints the table and writes the reports the flags ask for. */
async function report(f: Flags, results: LoadResult[], notes: string[] = []): Promise<void> {
  const r = buildReport(results, notes.length ? { notes } : {});
  if (f.json) await writeJsonReport(r, f.json);
  if (f.html) await writeHtmlReport(r, f.html);
  process.stdout.write(`${formatReportTable(r)}\n`);
}

/** Runs `infergate bench` with parsed flags. */
export async function runBenchCommand(f: Flags): Promise<void> {
  const quiet = f.quiet || !liveWanted();
  if (f.scenario) {
    if (f.target || f.rate !== undefined || f.closedLoop || f.findMax)
      throw new UsageError(`--scenario takes its targets and load from the file; drop --target/--rate/--closed-loop/--find-max\n${HELP}`);
    await runScenario(f.scenario, { quiet, json: f.json, html: f.html, durationMs: f.duration, warmupMs: f.warmup });
    return;
  }
  if (f.findMax) {
    if (f.sloP99 === undefined) throw new UsageError(`--find-max needs --slo-p99, e.g. --slo-p99 1s\n${HELP}`);
    if (f.rate !== undefined || f.closedLoop)
      throw new UsageError(`--find-max chooses the rate itself; drop --rate/--closed-loop\n${HELP}`);
    const out = await findMax({
      load: await baseLoad(f, quiet),
      sloP99Ms: f.sloP99,
      maxErrorRate: f.maxErrorRate,
      startRate: f.startRate,
      ...(f.maxRate !== undefined && { maxRate: f.maxRate }),
    });
    const reason = (out as { reason?: string }).reason;
    await report(f, out.tried, [
      `find-max, p99 SLO ${f.sloP99} ms: ${out.best ? `best ${out.best.offeredRate} req/s` : 'no rate met it'}${reason ? `; ${reason}` : ''}`,
    ]);
    process.stdout.write(
      `best rate: ${out.best ? `${out.best.offeredRate} req/s (p99 ${out.best.latencyMs.p99.toFixed(2)} ms)` : 'none met the SLO'}\n`,
    );
    return;
  }
  if (!f.closedLoop && f.concurrency !== undefined)
    throw new UsageError(`--concurrency is for a closed loop: add --closed-loop (its latencies hide stalls)\n${HELP}`);
  if (f.closedLoop === (f.rate !== undefined))
    throw new UsageError(`give one of --rate QPS (open loop) or --closed-loop --concurrency N\n${HELP}`);
  if (f.closedLoop && f.concurrency === undefined) throw new UsageError(`--closed-loop needs --concurrency N\n${HELP}`);
  const base = await baseLoad(f, quiet);
  const result = await runLoad(f.closedLoop ? { ...base, concurrency: f.concurrency } : { ...base, rate: f.rate });
  await report(f, [result]);
}
