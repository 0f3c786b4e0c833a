// How fast a change to discovery's view reaches its watchers: the time from
// a registration, a drain, a deregistration and a lease expiry to each of N
// watchers applying it. Discovery runs as a child process (the built CLI,
// memory store) so the watchers' CPU is not the server's; background
// sidecars heartbeat with moving load, so watchers also take the steady
// stream of load updates a real deployment pushes.
//
//   node dist/bench/discovery-push.js [--watchers 50] [--rounds 20] [--ttl-ms 1000] [--sidecars 20]
//                                     [--stores memory,etcd] [--json FILE]
//
// Both stores run by default (etcd when the binary is installed: Debian's
// etcd-server, started on free loopback ports like the tests do).
//
// Targets (issue 3): pushes within 100 ms at p99; an expired lease leaves
// every view within TTL + 100 ms. Expiry is measured from the expected
// expiry instant, the send time of the probe's last heartbeat + TTL; the
// server's deadline is later by at most that heartbeat's round trip
// (reported), so the figure errs high, never low.
import { writeFileSync } from 'node:fs';
import * as os from 'node:os';
import { parseArgs } from 'node:util';
import type { ClusterChange } from '../discovery/types';
import { discoveryClient, type DiscoveryClient } from '../discovery/wire';
import type { RegisterRequest } from '../proto/gen/infergate/discovery/v1/RegisterRequest';
import type { RegisterResponse__Output } from '../proto/gen/infergate/discovery/v1/RegisterResponse';
import type { HeartbeatRequest } from '../proto/gen/infergate/discovery/v1/HeartbeatRequest';
import { summarize, type LatencySummary } from './lib/latency-summary';
import { cpuSeconds, freePort, startCli, stop, waitReady } from '../testkit/processes';
import { WatchFleet } from './lib/watch-fleet';
import { etcdMissing, startEtcd } from '../testkit/etcd-process';

type Kind = 'registration' | 'drain' | 'deregistration' | 'lease expiry';
const KINDS: Kind[] = ['registration', 'drain', 'deregistration', 'lease expiry'];

interface Row extends LatencySummary {
  readonly event: Kind;
  /** Per round, when the last watcher saw it: p50 and max over rounds. */
  readonly allSeenP50: number;
  readonly allSeenMax: number;
  /** Watcher×round pairs that never saw the change within the timeout. */
  readonly missed: number;
}

const register = (c: DiscoveryClient, req: RegisterRequest) =>
  new Promise<RegisterResponse__Output>((resolve, reject) => c.Register(req, (e, r) => (e ? reject(e) : resolve(r!))));
const heartbeat = (c: DiscoveryClient, req: HeartbeatRequest) =>
  new Promise<void>((resolve, reject) => c.Heartbeat(req, (e) => (e ? reject(e) : resolve())));
const deregister = (c: DiscoveryClient, lease: string) =>
  new Promise<void>((resolve, reject) => c.Deregister({ lease_id: lease }, (e) => (e ? reject(e) : resolve())));
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const probeReq = (address: string, ttlMs: number): RegisterRequest => ({
  address,
  zone: 'bench',
  models: [{ name: 'ranker', versions: ['1'] }],
  ttl_ms: ttlMs,
});
const is = (type: ClusterChange['type'], id: string, health?: string) => (c: ClusterChange) =>
  c.type === type && c.endpoint.id === id && (health === undefined || c.endpoint.health === health);

/** Sidecars that stay registered and heartbeat with moving load, as a live deployment does. Returns a stopper. */
async function backgroundSidecars(c: DiscoveryClient, n: number, ttlMs: number): Promise<{ stop: () => void; errors: () => number }> {
  const timers: NodeJS.Timeout[] = [];
  let errors = 0;
  for (let i = 0; i < n; i++) {
    const address = `10.8.${Math.floor(i / 250)}.${(i % 250) + 1}:8001`;
    const reg = await register(c, { ...probeReq(address, ttlMs), zone: `zone-${i % 3}` });
    const beat = () => {
      const load = {
        queue_depth: Math.floor(Math.random() * 64),
        in_flight: Math.floor(Math.random() * 128),
        latency_ewma_ms: 1 + Math.random() * 30,
      };
      heartbeat(c, { lease_id: reg.lease_id, endpoint_id: reg.endpoint_id, load }).catch(() => errors++);
    };
    // Staggered so writes spread over the interval instead of arriving in bursts.
    timers.push(setTimeout(() => timers.push(setInterval(beat, reg.heartbeat_interval_ms)), (i * reg.heartbeat_interval_ms) / n));
  }
  return { stop: () => timers.forEach((t) => clearInterval(t)), errors: () => errors };
}

interface Options {
  readonly watchers: number;
  readonly rounds: number;
  readonly ttlMs: number;
  readonly sidecars: number;
  readonly verbose: boolean;
}

/** What one store's run measured. */
interface CaseResult {
  readonly store: string;
  readonly rows: Row[];
  readonly seconds: number;
  readonly serverCpuSeconds: number;
  readonly watchMessages: number;
  readonly heartbeatRttMaxMs: number;
  readonly backgroundErrors: number;
}

/** Starts discovery on `store` (extra CLI flags) and runs every round against it. */
async function runCase(store: string, storeFlags: string[], o: Options): Promise<CaseResult> {
  const [grpcPort, httpPort] = [await freePort(), await freePort()];
  const child = startCli(
    [
      'discovery',
      '--host',
      '127.0.0.1',
      '--grpc-port',
      String(grpcPort),
      '--http-port',
      String(httpPort),
      '--lease-ttl-ms',
      String(o.ttlMs),
      ...storeFlags,
    ],
    o.verbose,
  );
  const address = `127.0.0.1:${grpcPort}`;
  const samples = new Map<Kind, number[]>(KINDS.map((k) => [k, []]));
  const lastSeen = new Map<Kind, number[]>(KINDS.map((k) => [k, []]));
  const missed = new Map<Kind, number>(KINDS.map((k) => [k, 0]));
  const record = (kind: Kind, seenAt: (number | undefined)[], t0: number) => {
    const got = seenAt.filter((t): t is number => t !== undefined).map((t) => t - t0);
    samples.get(kind)!.push(...got);
    missed.set(kind, missed.get(kind)! + seenAt.length - got.length);
    if (got.length > 0) lastSeen.get(kind)!.push(Math.max(...got));
  };
  let heartbeatRttMax = 0;
  const fleet = new WatchFleet(address, o.watchers);
  const c = discoveryClient(address);
  let background: Awaited<ReturnType<typeof backgroundSidecars>> | undefined;
  try {
    await waitReady(`http://127.0.0.1:${httpPort}/healthz`);
    background = await backgroundSidecars(c, o.sidecars, o.ttlMs);
    await fleet.start();
    await sleep(o.ttlMs); // background heartbeats in full swing
    const cpu0 = cpuSeconds(child.pid!);
    const msgs0 = fleet.messages;
    const started = performance.now();
    for (let r = 0; r < o.rounds; r++) {
      // A registration, its drain, its deregistration.
      const id = `10.9.${Math.floor(r / 250)}.${(r % 250) + 1}:8001`;
      let t0 = 0;
      let lease = '';
      record(
        'registration',
        await fleet.observe(
          is('INSERT', id),
          async () => {
            t0 = performance.now();
            lease = (await register(c, probeReq(id, 30_000))).lease_id;
          },
          5000,
        ),
        t0,
      );
      record(
        'drain',
        await fleet.observe(
          is('UPDATE', id, 'DRAINING'),
          async () => {
            t0 = performance.now();
            await heartbeat(c, { lease_id: lease, endpoint_id: id, status: 'DRAINING' });
          },
          5000,
        ),
        t0,
      );
      record(
        'deregistration',
        await fleet.observe(
          is('REMOVE', id),
          async () => {
            t0 = performance.now();
            await deregister(c, lease);
          },
          5000,
        ),
        t0,
      );
      // A sidecar that heartbeats once, then dies. The TTL granted may be
      // longer than asked (etcd grants whole seconds).
      const eid = `10.10.${Math.floor(r / 250)}.${(r % 250) + 1}:8001`;
      let granted: RegisterResponse__Output | undefined;
      await fleet.observe(
        is('INSERT', eid),
        async () => {
          granted = await register(c, probeReq(eid, o.ttlMs));
        },
        5000,
      );
      await sleep(granted!.heartbeat_interval_ms);
      const sent = performance.now();
      await heartbeat(c, { lease_id: granted!.lease_id, endpoint_id: eid });
      heartbeatRttMax = Math.max(heartbeatRttMax, performance.now() - sent);
      record('lease expiry', await fleet.observe(is('REMOVE', eid), async () => undefined, granted!.ttl_ms + 5000), sent + granted!.ttl_ms);
      process.stderr.write(`${store}: round ${r + 1}/${o.rounds}\n`);
    }
    const seconds = (performance.now() - started) / 1000;
    const rows: Row[] = KINDS.map((event) => {
      const all = summarize(lastSeen.get(event)!);
      return { event, ...summarize(samples.get(event)!), allSeenP50: all.p50, allSeenMax: all.max, missed: missed.get(event)! };
    });
    return {
      store,
      rows,
      seconds,
      serverCpuSeconds: cpuSeconds(child.pid!) - cpu0,
      watchMessages: fleet.messages - msgs0,
      heartbeatRttMaxMs: heartbeatRttMax,
      backgroundErrors: background.errors(),
    };
  } finally {
    background?.stop();
    fleet.close();
    c.close();
    await stop(child);
  }
}

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      watchers: { type: 'string', default: '50' },
      rounds: { type: 'string', default: '20' },
      'ttl-ms': { type: 'string', default: '1000' },
      sidecars: { type: 'string', default: '20' },
      stores: { type: 'string', default: etcdMissing() ? 'memory' : 'memory,etcd' },
      json: { type: 'string' },
      verbose: { type: 'boolean', default: false },
    },
  });
  const o: Options = {
    watchers: Number(values.watchers),
    rounds: Number(values.rounds),
    ttlMs: Number(values['ttl-ms']),
    sidecars: Number(values.sidecars),
    verbose: values.verbose!,
  };
  if (etcdMissing()) process.stderr.write(`etcd store skipped: ${etcdMissing()}\n`);
  const results: CaseResult[] = [];
  for (const store of values.stores!.split(',')) {
    if (store === 'memory') results.push(await runCase(store, [], o));
    else if (store === 'etcd') {
      const etcd = await startEtcd();
      try {
        results.push(await runCase(store, ['--store', 'etcd', '--etcd-endpoints', etcd.url], o));
      } finally {
        await etcd.stop();
      }
    } else throw new Error(`--stores: '${store}' is not a store; expected memory and/or etcd`);
  }
  const f = (x: number) => x.toFixed(1);
  const table = [
    `| store | event | samples (watchers × rounds) | p50 ms | p99 ms | max ms | all ${o.watchers} watchers: p50 / max ms | missed |`,
    '| --- | --- | --- | --- | --- | --- | --- | --- |',
    ...results.flatMap((res) =>
      res.rows.map(
        (r) =>
          `| ${res.store} | ${r.event === 'lease expiry' ? 'lease expiry (after last heartbeat + TTL)' : r.event} | ${r.n} | ${f(r.p50)} | ${f(r.p99)} | ${f(r.max)} | ${f(r.allSeenP50)} / ${f(r.allSeenMax)} | ${r.missed} |`,
      ),
    ),
  ];
  process.stdout.write(`${table.join('\n')}\n\n`);
  process.stdout.write(
    `${o.watchers} watchers (one connection each), ${o.rounds} rounds, ${o.sidecars} background sidecars heartbeating with moving load every TTL/3, TTL ${o.ttlMs} ms asked.\n`,
  );
  for (const res of results) {
    const push = res.rows.filter((r) => r.event !== 'lease expiry');
    const expiry = res.rows.find((r) => r.event === 'lease expiry')!;
    process.stdout.write(
      `${res.store}: ${res.watchMessages} watch messages in ${res.seconds.toFixed(1)} s (${(res.watchMessages / res.seconds).toFixed(0)}/s); ` +
        `discovery CPU ${res.serverCpuSeconds.toFixed(2)} s (${((100 * res.serverCpuSeconds) / res.seconds).toFixed(0)} % of a core); ` +
        `probe heartbeat RTT max ${res.heartbeatRttMaxMs.toFixed(1)} ms; background heartbeat errors ${res.backgroundErrors}; ` +
        `push p99 <= 100 ms: ${push.every((r) => r.p99 <= 100 && r.missed === 0) ? 'met' : 'NOT met'}; ` +
        `expiry within TTL + 100 ms (max): ${expiry.max <= 100 && expiry.missed === 0 ? 'met' : 'NOT met'}\n`,
    );
  }
  if (values.json)
    writeFileSync(
      values.json,
      JSON.stringify({ machine: { cpus: os.cpus().length, node: process.version }, options: o, results }, null, 2),
    );
}

main().catch((e) => {
  process.stderr.write(`${e instanceof Error ? e.stack : String(e)}\n`);
  process.exit(1);
});
