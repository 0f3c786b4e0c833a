// Skew: four sidecars, one slowed by fault injection (--fault-delay-ms),
// and the same open-loop offered load through infergate's balancer, nginx
// (grpc_pass, `random two least_conn`) and HAProxy (`balance random(2)`),
// one target after another. Target: infergate's p99 at most half
// of the best peer's.
//
//   npm run bench:skew [-- --rate 500 --seconds 30 --rounds 2 --prime 30 --fault-delay-ms 50 --json FILE]
//
// Open loop, latency from the scheduled send time (bench/lib/open-loop.ts),
// so a stall cannot hide by slowing the generator. The machine is shared, so
// the measured time is split into rounds that rotate the targets' order and
// the rounds' histograms are merged: other work then falls on every target
// alike. Each measured part follows a warm-up at the same rate with no gap.
//
// The balancer runs on its defaults: peak EWMA with Linkerd's 10 s decay.
// Its fast sidecars' estimates start at 30 ms (initial_rtt) and need about
// 2.5 decay times of traffic to fall to their real few ms, so before
// anything is measured it is primed with --prime seconds at the offered rate
// (long enough for that, instead of a shorter decay passed through a routing
// config); the peers have no learned state and get --warmup seconds. Estimates
// keep their ratios through the idle gaps between rounds (every estimate
// decays by the same factor).
import { writeFileSync } from 'node:fs';
import * as os from 'node:os';
import { parseArgs } from 'node:util';
import type * as hdr from 'hdr-histogram-js';
import { latencyHistogram, openLoop, percentiles, type Percentiles } from './lib/open-loop';
import { otherLoad, sidecarServed, startFleet, startHaproxy, startInfergate, startNginx, stopAll, type SidecarProc, type Target } from './lib/peers';
import { RawClient, encodeFp32Request } from './lib/raw-client';

interface Options {
  readonly rate: number;
  readonly warmup: number;
  readonly connections: number;
}

/** One target's measured parts, merged over rounds. */
interface Tally {
  readonly target: Target;
  readonly histogram: hdr.Histogram;
  sent: number;
  ok: number;
  errors: number;
  seconds: number;
  /** Calls each sidecar finished during measured parts (the slow one last). */
  perSidecar: number[];
  proxyCpu: number;
  otherCoreSeconds: number;
  maxSendLagMs: number;
  errorSamples: string[];
}

interface Row extends Percentiles {
  readonly target: string;
  readonly rate: number;
  readonly sent: number;
  readonly ok: number;
  readonly errors: number;
  readonly achievedRps: number;
  /** Calls the slow sidecar finished / calls all sidecars finished, during measured parts. */
  readonly slowShare: number;
  readonly perSidecar: number[];
  /** The proxy's CPU, % of one core, over measured parts. */
  readonly proxyCpuPercent: number;
  /** Average busy cores of processes this benchmark did not start, over measured parts. */
  readonly otherCores: number;
  readonly maxSendLagMs: number;
  readonly errorSamples: string[];
}

const served = async (sidecars: SidecarProc[]) =>
  Promise.all(sidecars.map(async (s) => Object.values(await sidecarServed(s)).reduce((a, b) => a + b, 0)));

/** A few calls must succeed through a target before it is measured. */
async function spotCheck(t: Target, req: Buffer): Promise<void> {
  const c = new RawClient(`127.0.0.1:${t.port}`, 99);
  try {
    for (let i = 0; i < 8; i++) {
      await new Promise<void>((resolve, reject) => c.infer(req, (e) => (e ? reject(new Error(`${t.name}: ${e.code} ${e.details}`)) : resolve())));
    }
  } finally {
    c.close();
  }
}

/** Offers load to a target for warmupSeconds + seconds (seconds 0: warm-up only) and adds the measured part to the tally. */
async function run(tally: Tally, sidecars: SidecarProc[], req: Buffer, o: Options, warmupSeconds: number, seconds: number): Promise<void> {
  const t = tally.target;
  const clients = Array.from({ length: o.connections }, (_, i) => new RawClient(`127.0.0.1:${t.port}`, i));
  let before: Promise<number[]> = Promise.resolve([]);
  let cpu0 = 0;
  let other = otherLoad();
  try {
    const r = await openLoop(clients, req, {
      rate: o.rate, warmupSeconds, seconds,
      onMeasureStart: () => {
        before = served(sidecars);
        cpu0 = t.cpuSeconds();
        other = otherLoad();
      },
    });
    if (seconds === 0) return;
    tally.proxyCpu += t.cpuSeconds() - cpu0;
    tally.otherCoreSeconds += other.cores() * seconds;
    const after = await served(sidecars);
    const b = await before;
    tally.perSidecar = after.map((n, i) => (tally.perSidecar[i] ?? 0) + n - b[i]);
    tally.histogram.add(r.histogram);
    tally.sent += r.sent;
    tally.ok += r.ok;
    tally.errors += r.errors;
    tally.seconds += seconds;
    tally.maxSendLagMs = Math.max(tally.maxSendLagMs, r.maxSendLagMs);
    tally.errorSamples.push(...r.errorSamples.slice(0, 5 - tally.errorSamples.length));
    const p = percentiles(r.histogram);
    process.stderr.write(`${t.name}: ${(r.ok / seconds).toFixed(0)} req/s p50 ${p.p50Ms.toFixed(2)} p99 ${p.p99Ms.toFixed(2)} ms errors ${r.errors}` +
      ` per sidecar ${after.map((n, i) => n - b[i]).join('/')} other load ${other.cores().toFixed(2)} cores\n`);
  } finally {
    for (const c of clients) c.close();
  }
}

function row(t: Tally, rate: number, slowIndex: number): Row {
  const all = t.perSidecar.reduce((a, x) => a + x, 0);
  return {
    target: t.target.name, rate, sent: t.sent, ok: t.ok, errors: t.errors, achievedRps: t.ok / t.seconds, ...percentiles(t.histogram),
    slowShare: t.perSidecar[slowIndex] / Math.max(1, all), perSidecar: t.perSidecar, proxyCpuPercent: (100 * t.proxyCpu) / t.seconds,
    otherCores: t.otherCoreSeconds / t.seconds, maxSendLagMs: t.maxSendLagMs, errorSamples: t.errorSamples,
  };
}

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      rate: { type: 'string', default: '500' },
      seconds: { type: 'string', default: '30' },
      rounds: { type: 'string', default: '2' },
      warmup: { type: 'string', default: '5' },
      prime: { type: 'string', default: '30' },
      sidecars: { type: 'string', default: '4' },
      'fault-delay-ms': { type: 'string', default: '50' },
      connections: { type: 'string', default: '4' },
      targets: { type: 'string', default: 'infergate,nginx,haproxy' },
      json: { type: 'string' },
      verbose: { type: 'boolean', default: false },
    },
  });
  const o: Options = { rate: Number(values.rate), warmup: Number(values.warmup), connections: Number(values.connections) };
  const [seconds, rounds, prime, delay, n] = [values.seconds, values.rounds, values.prime, values['fault-delay-ms'], values.sidecars].map(Number);
  const names = values.targets!.split(',');
  const verbose = values.verbose!;
  // One ranker row, encoded once: the generator shares the two cores with everything it measures.
  const req = encodeFp32Request('ranker', 'features', 1, 256);
  const tallies: Tally[] = [];
  try {
    // The slow sidecar is the last one.
    const fleet = await startFleet([...Array<number>(n - 1).fill(0), delay], verbose);
    const ports = fleet.sidecars.map((s) => s.grpcPort);
    const start: Record<string, () => Promise<Target>> = {
      infergate: () => startInfergate(fleet.discoveryPort, n, verbose),
      nginx: () => startNginx(ports, verbose),
      haproxy: () => startHaproxy(ports, verbose),
    };
    for (const name of names) {
      const target = await start[name]();
      tallies.push({ target, histogram: latencyHistogram(), sent: 0, ok: 0, errors: 0, seconds: 0, perSidecar: [], proxyCpu: 0, otherCoreSeconds: 0, maxSendLagMs: 0, errorSamples: [] });
    }
    for (const t of tallies) await spotCheck(t.target, req);
    for (const t of tallies) await run(t, fleet.sidecars, req, o, t.target.name === 'infergate' ? prime : o.warmup, 0);
    for (let round = 0; round < rounds; round++) {
      for (let i = 0; i < tallies.length; i++) await run(tallies[(i + round) % tallies.length], fleet.sidecars, req, o, o.warmup, seconds / rounds);
    }
  } finally {
    await stopAll();
  }
  const rows = tallies.map((t) => row(t, o.rate, n - 1));
  const f = (x: number) => x.toFixed(2);
  const table = [
    `Offered: ${o.rate} req/s open loop; ${seconds} s measured per target in ${rounds} rounds, each after ${o.warmup} s of warm-up; ` +
      `infergate primed ${prime} s first; ${n} sidecars, one with --fault-delay-ms ${delay}.`,
    '',
    '| target | achieved req/s | p50 ms | p90 ms | p99 ms | p99.9 ms | max ms | errors | to slow sidecar | proxy CPU % | other load (cores) | max send lag ms |',
    '| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |',
    ...rows.map((r) => `| ${r.target} | ${r.achievedRps.toFixed(0)} | ${f(r.p50Ms)} | ${f(r.p90Ms)} | ${f(r.p99Ms)} | ${f(r.p999Ms)} | ${f(r.maxMs)} | ${r.errors} | ` +
      `${(100 * r.slowShare).toFixed(2)} % | ${r.proxyCpuPercent.toFixed(0)} | ${f(r.otherCores)} | ${f(r.maxSendLagMs)} |`),
  ];
  const ig = rows.find((r) => r.target === 'infergate');
  const peers = rows.filter((r) => r.target !== 'infergate');
  let ratio: number | undefined;
  if (ig && peers.length) {
    const best = peers.reduce((a, b) => (b.p99Ms < a.p99Ms ? b : a));
    ratio = ig.p99Ms / best.p99Ms;
    table.push('', `infergate p99 / best peer (${best.target}) p99 = ${ratio.toFixed(3)} (target <= 0.5: ${ratio <= 0.5 ? 'met' : 'NOT met'})`);
  }
  process.stdout.write(`${table.join('\n')}\n`);
  if (values.json) {
    writeFileSync(values.json, JSON.stringify({
      machine: { cpus: os.cpus().length, node: process.version },
      options: { ...o, seconds, rounds, prime, sidecars: n, faultDelayMs: delay }, rows, p99RatioToBestPeer: ratio,
    }, null, 2));
  }
}

main().then(() => process.exit(0), (e) => {
  process.stderr.write(`${e instanceof Error ? e.stack : String(e)}\n`);
  process.exit(1);
});
