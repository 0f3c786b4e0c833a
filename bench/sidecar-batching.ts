// Sidecar throughput with dynamic batching on versus off, unary and
// streaming, at several concurrencies. The sidecar runs in its own process
// (so its CPU time is measured alone); the load generator runs here.
//
//   npm run bench:sidecar [-- --seconds 5 --concurrency 1,16,64 --json out.json]
import { cpSync, mkdtempSync, readFileSync, writeFileSync, rmSync } from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { parseArgs } from 'node:util';
import { BUNDLED_MODELS } from '../models/bundled';
import { closedLoop, type LoopResult } from './lib/closed-loop';
import { cpuSeconds, freePort, startCli, stop, waitReady } from '../testkit/processes';
import { RawClient, encodeFp32Request } from '../testkit/raw-client';

interface Row extends LoopResult {
  batching: 'on' | 'off';
  mode: 'unary' | 'stream';
  concurrency: number;
  inferencesPerSec: number;
  serverCpuUsPerInference: number;
}

/** A repository holding only ranker, with dynamic batching removed. */
function unbatchedRepo(): string {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'infergate-nobatch-'));
  cpSync(path.join(BUNDLED_MODELS, 'ranker'), path.join(dir, 'ranker'), { recursive: true });
  const cfgPath = path.join(dir, 'ranker', 'config.yaml');
  const lines = readFileSync(cfgPath, 'utf8').split('\n');
  const out: string[] = [];
  let skipping = false;
  for (const line of lines) {
    if (line.startsWith('dynamic_batching:')) skipping = true;
    else if (skipping && /^\S/.test(line)) skipping = false;
    if (!skipping) out.push(line);
  }
  writeFileSync(cfgPath, out.join('\n'));
  return dir;
}

async function runCase(
  repo: string,
  batching: 'on' | 'off',
  modes: ('unary' | 'stream')[],
  concurrencies: number[],
  seconds: number,
): Promise<Row[]> {
  const [grpcPort, httpPort, metricsPort] = [await freePort(), await freePort(), await freePort()];
  const child = startCli([
    'sidecar',
    '--models',
    repo,
    '--host',
    '127.0.0.1',
    '--grpc-port',
    String(grpcPort),
    '--http-port',
    String(httpPort),
    '--metrics-port',
    String(metricsPort),
  ]);
  const rows: Row[] = [];
  try {
    await waitReady(`http://127.0.0.1:${httpPort}/v2/health/ready`);
    const clients = [0, 1, 2, 3].map((i) => new RawClient(`127.0.0.1:${grpcPort}`, i));
    const req = encodeFp32Request('ranker', 'features', 1, 256);
    await closedLoop(clients, req, 'unary', 8, 1); // warm-up: JIT, ORT arenas, connections
    for (const mode of modes) {
      for (const c of concurrencies) {
        const cpu0 = cpuSeconds(child.pid!);
        const r = await closedLoop(clients, req, mode, c, seconds);
        const cpu = cpuSeconds(child.pid!) - cpu0;
        const ok = r.requests - r.errors;
        rows.push({
          ...r,
          batching,
          mode,
          concurrency: c,
          inferencesPerSec: ok / r.seconds,
          serverCpuUsPerInference: (cpu * 1e6) / Math.max(1, ok),
        });
        const last = rows[rows.length - 1];
        process.stderr.write(
          `batching ${batching} ${mode} c=${c}: ${last.inferencesPerSec.toFixed(0)} inf/s p50 ${r.p50Ms.toFixed(2)} ms p99 ${r.p99Ms.toFixed(2)} ms errors ${r.errors}\n`,
        );
      }
    }
    for (const cl of clients) cl.close();
  } finally {
    await stop(child);
  }
  return rows;
}

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      seconds: { type: 'string', default: '5' },
      concurrency: { type: 'string', default: '1,16,64,256' },
      modes: { type: 'string', default: 'unary,stream' },
      json: { type: 'string' },
    },
  });
  const seconds = Number(values.seconds);
  const concurrencies = values.concurrency!.split(',').map(Number);
  const modes = values.modes!.split(',') as ('unary' | 'stream')[];
  const off = unbatchedRepo();
  try {
    const rows = [
      ...(await runCase(BUNDLED_MODELS, 'on', modes, concurrencies, seconds)),
      ...(await runCase(off, 'off', modes, concurrencies, seconds)),
    ];
    const table = [
      '| mode | concurrency | batching | inferences/s | p50 ms | p99 ms | sidecar CPU µs/inference | errors |',
      '| --- | --- | --- | --- | --- | --- | --- | --- |',
      ...rows.map(
        (r) =>
          `| ${r.mode} | ${r.concurrency} | ${r.batching} | ${r.inferencesPerSec.toFixed(0)} | ${r.p50Ms.toFixed(2)} | ${r.p99Ms.toFixed(2)} | ${r.serverCpuUsPerInference.toFixed(1)} | ${r.errors} |`,
      ),
    ];
    process.stdout.write(`${table.join('\n')}\n`);
    for (const mode of modes) {
      for (const c of concurrencies) {
        const on = rows.find((r) => r.mode === mode && r.concurrency === c && r.batching === 'on');
        const offRow = rows.find((r) => r.mode === mode && r.concurrency === c && r.batching === 'off');
        if (on && offRow)
          process.stdout.write(`${mode} c=${c}: batching on/off = ${(on.inferencesPerSec / offRow.inferencesPerSec).toFixed(2)}x\n`);
      }
    }
    if (values.json)
      writeFileSync(values.json, JSON.stringify({ machine: { cpus: os.cpus().length, node: process.version }, seconds, rows }, null, 2));
  } finally {
    rmSync(off, { recursive: true, force: true });
  }
}

main().catch((e) => {
  process.stderr.write(`${e instanceof Error ? e.stack : String(e)}\n`);
  process.exit(1);
});
