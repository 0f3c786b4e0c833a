// Cost: CPU time per proxied request of the infergate balancer process
// versus HAProxy's (and nginx's), for unary and streaming clients, all in
// the same run over the same sidecars. Target: at most 2x
// HAProxy's for unary clients, at most HAProxy's for streaming clients.
//
//   npm run bench:cost [-- --requests 30000 --seconds 8 --rounds 2 --json FILE]
//
// Unary: h2load (C, cheap, so the proxies get the cores) at a fixed
// concurrency, closed loop, with a pre-encoded gRPC message as the body.
// h2load cannot read grpc-status (it rides in trailers), so every run checks
// the sidecars' own count of OK answers against h2load's. Streaming: a few
// ModelStreamInfer streams from grpc-js, each keeping `depth` messages in
// flight. Each proxy's CPU seconds (/proc, user+system, all its threads and
// processes) before and after, divided by answers. Rounds alternate the
// targets so the other work on a shared machine falls on each of them alike.
// `infergate_per_stream` is the balancer with `stream_routing: per_stream`
// (a client stream passed through to one sidecar, as HAProxy and Envoy
// do); its unary path is the same as infergate's, so it runs streams only.
import { spawn } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { parseArgs } from 'node:util';
import {
  otherLoad,
  sidecarServed,
  startFleet,
  startHaproxy,
  startInfergate,
  startNginx,
  stopAll,
  tempDir,
  type SidecarProc,
  type Target,
} from './lib/peers';
import { METHODS, RawClient, encodeFp32Request, isStreamError } from '../testkit/raw-client';

/** Targets measured with streaming clients only. */
const STREAM_ONLY = new Set(['infergate_per_stream']);

interface Row {
  readonly target: string;
  readonly mode: 'unary' | 'stream';
  readonly answers: number;
  readonly errors: number;
  readonly perSecond: number;
  readonly cpuSeconds: number;
  readonly cpuUsPerAnswer: number;
  /** Average busy cores of processes this benchmark did not start, during the run. */
  readonly otherCores: number;
}

const okAtSidecars = async (sidecars: SidecarProc[]) =>
  (await Promise.all(sidecars.map(sidecarServed))).reduce((a, s) => a + (s.OK ?? 0), 0);

/** Runs h2load; resolves with requests that got a 2xx and the wall time. */
function h2load(
  port: number,
  body: string,
  n: number,
  clients: number,
  streams: number,
): Promise<{ ok: number; failed: number; seconds: number }> {
  const args = [
    '-n',
    String(n),
    '-c',
    String(clients),
    '-m',
    String(streams),
    '-H',
    'content-type: application/grpc',
    '-H',
    'te: trailers',
    '-d',
    body,
    `http://127.0.0.1:${port}${METHODS.infer}`,
  ];
  return new Promise((resolve, reject) => {
    const child = spawn('h2load', args, { stdio: ['ignore', 'pipe', 'inherit'] });
    let out = '';
    child.stdout.on('data', (d: Buffer) => (out += d.toString()));
    const kill = setTimeout(() => child.kill('SIGKILL'), 120_000);
    child.once('error', reject);
    child.once('exit', (code) => {
      clearTimeout(kill);
      const req = /requests: (\d+) total, \d+ started, (\d+) done, (\d+) succeeded, (\d+) failed, (\d+) errored, (\d+) timeout/.exec(out);
      const fin = /finished in ([\d.]+)(ms|s),/.exec(out);
      if (code !== 0 || !req || !fin) return reject(new Error(`h2load exited ${code}: ${out.slice(-500)}`));
      resolve({ ok: Number(req[3]), failed: n - Number(req[3]), seconds: Number(fin[1]) / (fin[2] === 'ms' ? 1000 : 1) });
    });
  });
}

/** `streams` ModelStreamInfer streams over `conns` connections, each keeping `depth` messages in flight for `seconds`. */
async function pushStreams(
  port: number,
  req: Buffer,
  conns: number,
  streams: number,
  depth: number,
  seconds: number,
): Promise<{ ok: number; errors: number; seconds: number }> {
  const clients = Array.from({ length: conns }, (_, i) => new RawClient(`127.0.0.1:${port}`, i));
  let ok = 0;
  let errors = 0;
  const t0 = performance.now();
  const end = t0 + seconds * 1000;
  try {
    await Promise.all(
      Array.from(
        { length: streams },
        (_, i) =>
          new Promise<void>((resolve) => {
            const s = clients[i % conns].stream();
            // Bounded: a stream that neither ends nor errors is abandoned 10 s after the run's end.
            const guard = setTimeout(() => (errors++, s.cancel(), resolve()), seconds * 1000 + 10_000);
            const done = () => (clearTimeout(guard), resolve());
            s.on('data', (resp: Buffer) => {
              if (isStreamError(resp)) errors++;
              else ok++;
              if (performance.now() < end) s.write(req);
              else if (s.writable) s.end();
            });
            s.on('error', () => (errors++, done()));
            s.on('end', done);
            for (let k = 0; k < depth; k++) s.write(req);
          }),
      ),
    );
  } finally {
    for (const c of clients) c.close();
  }
  return { ok, errors, seconds: (performance.now() - t0) / 1000 };
}

async function measure(
  t: Target,
  mode: Row['mode'],
  run: () => Promise<{ ok: number; errors: number; seconds: number }>,
  sidecars: SidecarProc[],
): Promise<Row> {
  const other = otherLoad();
  const ok0 = await okAtSidecars(sidecars);
  const cpu0 = t.cpuSeconds();
  const r = await run();
  const cpu = t.cpuSeconds() - cpu0;
  const sidecarOk = (await okAtSidecars(sidecars)) - ok0;
  // Unary answers counted by h2load are HTTP 2xx; a gRPC error would still be 2xx, so trust the sidecars' OK count.
  const answers = mode === 'unary' ? Math.min(r.ok, sidecarOk) : r.ok;
  const errors = r.errors + (mode === 'unary' ? r.ok - answers : 0);
  const row: Row = {
    target: t.name,
    mode,
    answers,
    errors,
    perSecond: answers / r.seconds,
    cpuSeconds: cpu,
    cpuUsPerAnswer: (cpu * 1e6) / Math.max(1, answers),
    otherCores: other.cores(),
  };
  process.stderr.write(
    `${t.name} ${mode}: ${row.perSecond.toFixed(0)}/s, ${row.cpuUsPerAnswer.toFixed(1)} us CPU per answer, errors ${errors}, other load ${row.otherCores.toFixed(2)} cores\n`,
  );
  return row;
}

/** Sums rows of one target and mode over rounds. */
function total(rows: Row[], target: string, mode: Row['mode']): Row | undefined {
  const rs = rows.filter((r) => r.target === target && r.mode === mode);
  if (rs.length === 0) return undefined;
  const answers = rs.reduce((a, r) => a + r.answers, 0);
  const cpu = rs.reduce((a, r) => a + r.cpuSeconds, 0);
  const secs = rs.reduce((a, r) => a + r.answers / r.perSecond, 0);
  return {
    target,
    mode,
    answers,
    errors: rs.reduce((a, r) => a + r.errors, 0),
    perSecond: answers / secs,
    cpuSeconds: cpu,
    cpuUsPerAnswer: (cpu * 1e6) / Math.max(1, answers),
    otherCores: rs.reduce((a, r) => a + r.otherCores, 0) / rs.length,
  };
}

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      requests: { type: 'string', default: '30000' },
      clients: { type: 'string', default: '4' },
      'max-streams': { type: 'string', default: '16' },
      seconds: { type: 'string', default: '8' },
      streams: { type: 'string', default: '4' },
      depth: { type: 'string', default: '16' },
      rounds: { type: 'string', default: '2' },
      sidecars: { type: 'string', default: '4' },
      targets: { type: 'string', default: 'infergate,infergate_per_stream,haproxy,nginx' },
      json: { type: 'string' },
      verbose: { type: 'boolean', default: false },
    },
  });
  const n = Number(values.requests);
  const [clients, maxStreams, seconds, streams, depth, rounds] = [
    values.clients,
    values['max-streams'],
    values.seconds,
    values.streams,
    values.depth,
    values.rounds,
  ].map(Number);
  const names = values.targets!.split(',');
  const req = encodeFp32Request('ranker', 'features', 1, 256);
  const rows: Row[] = [];
  const body = path.join(tempDir('cost'), 'body.bin');
  try {
    const fleet = await startFleet(Array<number>(Number(values.sidecars)).fill(0), values.verbose);
    // h2load posts the body as is: a gRPC length-prefixed message (flag 0, 4-byte big-endian length).
    const prefix = Buffer.alloc(5);
    prefix.writeUInt32BE(req.length, 1);
    writeFileSync(body, Buffer.concat([prefix, req]));
    const ports = fleet.sidecars.map((s) => s.grpcPort);
    const start: Record<string, () => Promise<Target>> = {
      infergate: () => startInfergate(fleet.discoveryPort, ports.length, values.verbose),
      infergate_per_stream: () =>
        startInfergate(
          fleet.discoveryPort,
          ports.length,
          values.verbose,
          'defaults: { stream_routing: per_stream }\n',
          'infergate_per_stream',
        ),
      haproxy: () => startHaproxy(ports, values.verbose),
      nginx: () => startNginx(ports, values.verbose),
    };
    const targets: Target[] = [];
    for (const name of names) targets.push(await start[name]());
    // Warm-up, unmeasured: JIT in the Node processes, connections in every proxy.
    for (const t of targets) {
      if (!STREAM_ONLY.has(t.name)) await h2load(t.port, body, Math.ceil(n / 4), clients, maxStreams);
      await pushStreams(t.port, req, Math.min(streams, 2), streams, depth, 1);
    }
    for (let round = 0; round < rounds; round++) {
      // Rotate the order each round so no target always runs first.
      const order = targets.map((_, i) => targets[(i + round) % targets.length]);
      for (const t of order.filter((x) => !STREAM_ONLY.has(x.name))) {
        rows.push(
          await measure(
            t,
            'unary',
            async () => {
              const r = await h2load(t.port, body, n, clients, maxStreams);
              return { ok: r.ok, errors: r.failed, seconds: r.seconds };
            },
            fleet.sidecars,
          ),
        );
      }
      for (const t of order)
        rows.push(
          await measure(t, 'stream', () => pushStreams(t.port, req, Math.min(streams, 4), streams, depth, seconds), fleet.sidecars),
        );
    }
  } finally {
    await stopAll();
  }
  const totals = (['unary', 'stream'] as const).flatMap((mode) =>
    names.map((t) => total(rows, t, mode)).filter((r): r is Row => r !== undefined),
  );
  const lines = [
    `Unary: h2load -c ${clients} -m ${maxStreams} (${clients * maxStreams} in flight), ${n} requests per run; stream: ${streams} streams x ${depth} in flight, ${seconds} s per run; ${rounds} rounds, totals.`,
    '',
    '| mode | proxy | answers | per s | proxy CPU s | CPU µs per answer | vs HAProxy | errors | other load (cores) |',
    '| --- | --- | --- | --- | --- | --- | --- | --- | --- |',
  ];
  const ratios: Record<string, number> = {};
  for (const r of totals) {
    const ha = totals.find((x) => x.mode === r.mode && x.target === 'haproxy');
    const ratio = ha ? r.cpuUsPerAnswer / ha.cpuUsPerAnswer : NaN;
    ratios[`${r.target}/${r.mode}`] = ratio;
    lines.push(
      `| ${r.mode} | ${r.target} | ${r.answers} | ${r.perSecond.toFixed(0)} | ${r.cpuSeconds.toFixed(2)} | ${r.cpuUsPerAnswer.toFixed(1)} | ${ratio.toFixed(2)}x | ${r.errors} | ${r.otherCores.toFixed(2)} |`,
    );
  }
  const verdict = (mode: string, limit: number) => {
    const x = ratios[`infergate/${mode}`];
    return x === undefined || Number.isNaN(x)
      ? 'not measured'
      : `${x.toFixed(2)}x HAProxy (target <= ${limit}x: ${x <= limit ? 'met' : 'NOT met'})`;
  };
  lines.push('', `infergate unary: ${verdict('unary', 2)}; streaming: ${verdict('stream', 1)}`);
  const perStream = ratios['infergate_per_stream/stream'];
  if (perStream !== undefined && !Number.isNaN(perStream)) {
    lines.push(
      `infergate stream_routing per_stream, streaming: ${perStream.toFixed(2)}x HAProxy (target <= 1x: ${perStream <= 1 ? 'met' : 'NOT met'})`,
    );
  }
  process.stdout.write(`${lines.join('\n')}\n`);
  if (values.json) {
    writeFileSync(
      values.json,
      JSON.stringify(
        {
          machine: { cpus: os.cpus().length, node: process.version },
          options: { requests: n, clients, maxStreams, seconds, streams, depth, rounds, sidecars: Number(values.sidecars) },
          totals,
          ratiosToHaproxy: ratios,
          rows,
        },
        null,
        2,
      ),
    );
  }
}

main().then(
  () => process.exit(0),
  (e) => {
    process.stderr.write(`${e instanceof Error ? e.stack : String(e)}\n`);
    process.exit(1);
  },
);
