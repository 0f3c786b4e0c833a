// `npm run bench:skew-matrix`: infergate against nginx (`random two
// least_conn`) and HAProxy (`balance random(2)`) over a matrix of cells
// (offered rate x slow sidecar x fleet size, plus special cells), each
// target started fresh per cell on the same sidecar fleet. Method, fields
// and verdict rules: bench/README.md and bench/scenarios/skew-matrix.yaml.
import { mkdirSync, writeFileSync } from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { parseArgs } from 'node:util';
import { stopAll } from '../lib/peers';
import { stopInfergates } from '../scenario/own-processes';
import { startFleet, type Fleet } from './fleet';
import { runH2load } from './h2load';
import { loadMatrix, type Cell, type MatrixSpec } from './matrix-config';
import { findMaxRate, type RateTrial } from './max-rate';
import { ERRORS_NOTE, markdownTable, progressLine, resultsJson, type CellResult } from './report';
import { runFigures, type RunShape } from './run-figures';
import { runTarget, TARGETS, type TargetName } from './target-run';
import { judgeCell } from './verdict';

const HELP = `Usage: npm run bench:skew-matrix -- [flags]

infergate vs nginx and HAProxy over a matrix of slow-sidecar cells (bench/README.md).

Flags:
  --matrix FILE     The matrix (default: bench/scenarios/skew-matrix.yaml).
  --only REGEX      Run only the cells whose name matches, e.g. 'r500-d25-n4|special-slowmid', 'r2000'.
  --seconds N       Seconds of load per target in the regular cells (default: the file's, 15); specials keep theirs.
  --targets LIST    Comma-separated, of infergate,nginx,haproxy (default: all three).
  --out FILE        The full figures as JSON (default: bench/results/skew-matrix.json).
  --verbose         Children's logs on stdout.
  --help            Show this help and exit.
`;

/**
 * Sends each started sidecar 2 s of load directly, once per fleet. Without it the first
 * target of a fleet's first cell also measured the sidecars' own warm-up (JIT, ONNX Runtime's
 * first runs: their fast p99 was 10 ms in that window and 5 ms after), which is not the
 * balancer's cold start. The balancers are still started cold for every cell.
 */
async function warmFleet(fleet: Fleet, log: (line: string) => void): Promise<void> {
  for (const s of fleet.sidecars) {
    if (!s.child) continue; // a joiner not started yet
    await runH2load({ port: s.grpcPort, rate: 1500, seconds: 2, clients: 4, maxStreams: 64 });
  }
  log(`  sidecars warmed: 2 s at 1500 req/s each, directly`);
}

/** Which fleet a cell runs on: sidecars start once per fleet. */
const fleetKey = (c: Cell) => (c.special === 'double' || c.special === 'join' ? `${c.special}-n${c.sidecars}` : `n${c.sidecars}`);

function shapeOf(cell: Cell, rate: number, spec: MatrixSpec, fleet: Fleet): RunShape {
  const n = cell.sidecars;
  const { cold, warm } = spec.windows;
  // A shorter run (--seconds) keeps the cold window and moves the warm one to its last seconds.
  const warmLen = warm[1] - warm[0];
  const w = cell.seconds >= warm[1] ? warm : ([Math.max(cold[1], cell.seconds - warmLen), cell.seconds] as const);
  const windows: Record<string, readonly [number, number]> = { cold, warm: w };
  if (cell.special === 'slowmid')
    Object.assign(windows, { slow: [spec.slowmid.slowAtS, spec.slowmid.recoverAtS], recovered: [spec.slowmid.recoverAtS, cell.seconds] });
  if (cell.special === 'join') windows.joined = [spec.join.joinAtS, cell.seconds];
  const inst = spec.double.instances;
  return {
    rate,
    sidecars: n,
    seconds: cell.seconds,
    slowIndex: cell.slow ? n - 1 : null,
    ...(cell.special && { special: cell.special }),
    watchIndex: n - 1,
    fairShare: cell.special === 'double' ? inst / (n - 1 + inst) : 1 / n,
    windows,
    pollMs: spec.load.pollMs,
    bucketsMs: fleet.bucketsMs,
    avoidShare: spec.verdict.sharePercent / 100,
    reachPart: spec.verdict.fairPercent / 100,
  };
}

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      matrix: { type: 'string', default: 'bench/scenarios/skew-matrix.yaml' },
      only: { type: 'string' },
      seconds: { type: 'string' },
      targets: { type: 'string', default: TARGETS.join(',') },
      out: { type: 'string', default: 'bench/results/skew-matrix.json' },
      verbose: { type: 'boolean', default: false },
      help: { type: 'boolean', default: false },
    },
  });
  if (values.help) return void process.stdout.write(HELP);
  const spec = await loadMatrix(values.matrix!);
  const targets = values.targets!.split(',').map((t) => {
    if (!(TARGETS as readonly string[]).includes(t)) throw new Error(`--targets: '${t}' is not one of ${TARGETS.join(', ')}`);
    return t as TargetName;
  });
  const seconds = values.seconds === undefined ? undefined : Number(values.seconds);
  if (seconds !== undefined && !(seconds >= 1)) throw new Error(`--seconds: '${values.seconds}'; expected a number >= 1`);
  const only = values.only === undefined ? undefined : new RegExp(values.only);
  const cells = spec.cells
    .filter((c) => !only || only.test(c.name))
    .map((c) => (seconds !== undefined && !c.special ? { ...c, seconds } : c));
  if (cells.length === 0) throw new Error(`--only ${values.only}: no cell matches; cells are ${spec.cells.map((c) => c.name).join(', ')}`);
  const groups = [...new Set(cells.map(fleetKey))];
  const estimateS = cells.reduce((a, c) => a + targets.length * (c.seconds + 5), 0);
  const log = (line: string) => process.stderr.write(`${line}\n`);
  log(
    `skew-matrix: ${cells.length} cells x ${targets.length} targets on ${groups.length} fleet(s), about ${Math.ceil(estimateS / 60)} min of runs`,
  );
  const started = Date.now();
  const results: CellResult[] = [];
  const maxRates: Record<string, number> = {};
  const searches: Record<string, RateTrial[]> = {};
  let done = 0;
  try {
    for (const key of groups) {
      const mine = cells.filter((c) => fleetKey(c) === key);
      const first = mine[0];
      log(`fleet ${key}: starting ${first.sidecars} sidecars with --fault-admin`);
      const fleet = await startFleet({
        sidecars: first.sidecars,
        ...(first.special === 'double' && { double: { index: first.sidecars - 1, instances: spec.double.instances } }),
        joiner: first.special === 'join',
        verbose: values.verbose,
      });
      let joinLeadS = 0;
      if (first.special === 'join') {
        joinLeadS = await fleet.startJoiner();
        await fleet.stopJoiner();
        log(`  joiner: ${joinLeadS.toFixed(2)} s from spawn to ready; spawned that long before t = ${spec.join.joinAtS} s`);
      }
      try {
        await warmFleet(fleet, log);
        if (mine.some((c) => c.rate === 'max')) {
          if (spec.maxRate === 'auto') {
            log(`fleet ${key}: searching the highest rate all of ${targets.join(', ')} sustain (healthy fleet)`);
            const found = await findMaxRate(fleet, spec, targets, values.verbose, log);
            [maxRates[key], searches[key]] = [found.rate, found.trials];
          } else maxRates[key] = spec.maxRate;
          log(`fleet ${key}: max = ${maxRates[key]} req/s`);
        }
        for (const cell of mine) {
          const rate = cell.rate === 'max' ? maxRates[key] : cell.rate;
          const shape = shapeOf(cell, rate, spec, fleet);
          const runs: CellResult['runs'][number][] = [];
          // Rotated per cell, so the machine's other work does not always fall on the same target.
          const order = targets.map((_, i) => targets[(i + results.length) % targets.length]);
          for (const target of order) {
            const raw = await runTarget(target, { fleet, cell, rate, spec, joinLeadS, verbose: values.verbose });
            const fig = runFigures(raw, shape);
            done++;
            if (!fig) {
              log(`${cell.name} ${target}: h2load logged nothing (${raw.h2loadSummary})`);
              continue;
            }
            const run = {
              ...fig,
              otherCores: raw.otherCores,
              targetCpuSeconds: raw.targetCpuSeconds,
              h2load: raw.h2loadSummary,
              polls: raw.polls.map((p) => ({ atMs: p.atMs, calls: p.calls, nonOk: p.nonOk })),
            };
            runs.push(run);
            const left = (((Date.now() - started) / done) * (cells.length * targets.length - done)) / 60_000;
            log(`[${done}/${cells.length * targets.length}] ${progressLine(cell.name, run)} (~${left.toFixed(0)} min left)`);
          }
          runs.sort((a, b) => targets.indexOf(a.target as TargetName) - targets.indexOf(b.target as TargetName));
          const verdict = judgeCell(runs, spec.verdict);
          results.push({
            name: cell.name,
            rate,
            sidecars: cell.sidecars,
            seconds: cell.seconds,
            slow: cell.slow
              ? `${cell.slow.delayMs} ms delay, ${cell.slow.abortPercent} % aborts${cell.special === 'slowmid' ? ' (mid-run)' : ''}`
              : 'none',
            runs,
            verdict,
          });
          log(`${cell.name}: ${verdict.status}${verdict.notes.length ? ` (${verdict.notes.join('; ')})` : ''}`);
        }
      } finally {
        await fleet.stop();
      }
    }
  } finally {
    await Promise.all([stopAll(), stopInfergates()]);
  }
  const out = {
    machine: { cpus: os.cpus().length, node: process.version, loadavg: os.loadavg() },
    matrix: path.relative(process.cwd(), spec.file),
    options: {
      only: values.only ?? null,
      seconds: seconds ?? null,
      targets,
      load: spec.load,
      windows: spec.windows,
      verdict: spec.verdict,
    },
    minutes: (Date.now() - started) / 60_000,
    errors_counted: ERRORS_NOTE,
    max_rates: maxRates,
    max_search: searches,
    cells: results,
  };
  mkdirSync(path.dirname(values.out!), { recursive: true });
  writeFileSync(values.out!, resultsJson(out));
  process.stdout.write(`${markdownTable(results)}\n`);
  log(`skew-matrix: ${out.minutes.toFixed(1)} min; figures in ${values.out}`);
}

main().then(
  () => process.exit(0),
  (e) => {
    process.stderr.write(`${e instanceof Error ? e.stack : String(e)}\n`);
    process.exit(1);
  },
);
