// The typed client through the balancer versus proxyless, same run, same
// sidecars: what the balancer hop costs in CPU per request (the client's
// plus the balancer's) and in latency. Discovery, the sidecars and the
// balancer run as CLI processes; both clients run here and take turns
// driving the same closed-loop load (C callers, each sending its next call
// when the last answered), unary and over one typed stream.
//
//   npm run bench:proxyless [-- --seconds 8 --rounds 3 --concurrency 32 --sidecars 2 --json FILE]
//
// Rounds alternate the paths, so other work on a shared machine falls on
// both alike; figures are summed over rounds. Latencies are closed-loop.
import { readFileSync, writeFileSync } from 'node:fs';
import * as os from 'node:os';
import { parseArgs } from 'node:util';
import * as hdr from 'hdr-histogram-js';
import { BUNDLED_MODELS } from '../models/bundled';
import { InferenceClient, type InferStream, type ProxylessTransport } from '../client';
import { cpuSeconds, freePort, sidecarArgs, startCli, stop, waitReady } from '../testkit/processes';

type Path = 'balancer' | 'proxyless';
type Mode = 'unary' | 'stream';

interface Totals {
  ok: number;
  errors: number;
  seconds: number;
  clientCpuUs: number;
  balancerCpuUs: number;
  sidecarCpuUs: number;
  otherCores: number;
  readonly h: hdr.Histogram;
}

const features = Float32Array.from({ length: 256 }, (_, i) => Math.sin(i));
const input = { features: { datatype: 'FP32', shape: [1, 256], data: features } } as const;

/** Busy CPU seconds of the whole machine (/proc/stat: user+nice+system+irq+softirq), to tell what else ran. */
function machineBusySeconds(): number {
  const v = readFileSync('/proc/stat', 'utf8').split('\n')[0].trim().split(/\s+/).slice(1).map(Number);
  return (v[0] + v[1] + v[2] + v[5] + v[6]) / 100;
}

/** `concurrency` closed loops for `seconds`; one call at a time each. */
async function closedLoop(
  call: () => Promise<unknown>,
  concurrency: number,
  seconds: number,
  h: hdr.Histogram,
): Promise<{ ok: number; errors: number }> {
  let ok = 0;
  let errors = 0;
  const end = performance.now() + seconds * 1000;
  await Promise.all(
    Array.from({ length: concurrency }, async () => {
      while (performance.now() < end) {
        const t0 = performance.now();
        try {
          await call();
          ok++;
        } catch {
          errors++;
        }
        h.recordValue(Math.max(1, Math.round((performance.now() - t0) * 1000)));
      }
    }),
  );
  return { ok, errors };
}

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      seconds: { type: 'string', default: '8' },
      rounds: { type: 'string', default: '3' },
      concurrency: { type: 'string', default: '32' },
      sidecars: { type: 'string', default: '2' },
      modes: { type: 'string', default: 'unary,stream' },
      json: { type: 'string' },
    },
  });
  const [seconds, rounds, concurrency, nSidecars] = [values.seconds, values.rounds, values.concurrency, values.sidecars].map(Number);
  const modes = values.modes!.split(',') as Mode[];

  const [dg, dh] = [await freePort(), await freePort()];
  const discovery = startCli(['discovery', '--host', '127.0.0.1', '--grpc-port', String(dg), '--http-port', String(dh)]);
  const children = [discovery];
  const clients: InferenceClient[] = [];
  try {
    await waitReady(`http://127.0.0.1:${dh}/healthz`);
    const sidecars: { child: ReturnType<typeof startCli>; ready: string }[] = [];
    for (let i = 0; i < nSidecars; i++) {
      const [g, h, m] = [await freePort(), await freePort(), await freePort()];
      const child = startCli(
        sidecarArgs(BUNDLED_MODELS, { grpc: g, http: h, metrics: m }, dg, ['--zone', 'a', '--drain-timeout-ms', '1000']),
      );
      children.push(child);
      sidecars.push({ child, ready: `http://127.0.0.1:${h}/v2/health/ready` });
    }
    await Promise.all(sidecars.map((s) => waitReady(s.ready, 60_000)));
    const [bg, bh, bm] = [await freePort(), await freePort(), await freePort()];
    const balancer = startCli([
      'balancer',
      '--host',
      '127.0.0.1',
      '--discovery',
      `127.0.0.1:${dg}`,
      '--grpc-port',
      String(bg),
      '--http-port',
      String(bh),
      '--metrics-port',
      String(bm),
      '--zone',
      'a',
      '--drain-timeout-ms',
      '1000',
    ]);
    children.push(balancer);
    await waitReady(`http://127.0.0.1:${bm}/readyz`);

    const byPath: Record<Path, InferenceClient> = {
      balancer: new InferenceClient({ address: `127.0.0.1:${bg}` }),
      proxyless: new InferenceClient({ discovery: `127.0.0.1:${dg}`, zone: 'a' }),
    };
    clients.push(...Object.values(byPath));
    // Ready means every sidecar is a candidate on both paths (the balancer's /status lists them; the client's view must too).
    const until = Date.now() + 30_000;
    const listed = async () =>
      (
        (await (await fetch(`http://127.0.0.1:${bm}/status`)).json()) as { clusters: { model: string; endpoints: unknown[] }[] }
      ).clusters.find((c) => c.model === 'ranker')?.endpoints.length ?? 0;
    while ((await listed()) < nSidecars || (byPath.proxyless.transport as ProxylessTransport).endpoints('ranker').length < nSidecars) {
      if (Date.now() > until) throw new Error(`not every path lists ${nSidecars} sidecars after 30 s`);
      await new Promise((r) => setTimeout(r, 100));
    }

    const totals = new Map<string, Totals>();
    const run = async (path: Path, mode: Mode, secs: number, record: boolean) => {
      const client = byPath[path];
      const stream: InferStream | undefined = mode === 'stream' ? client.stream() : undefined;
      const call = stream ? () => stream.infer('ranker', input) : () => client.infer('ranker', input);
      const key = `${path}/${mode}`;
      const t = totals.get(key) ?? {
        ok: 0,
        errors: 0,
        seconds: 0,
        clientCpuUs: 0,
        balancerCpuUs: 0,
        sidecarCpuUs: 0,
        otherCores: 0,
        h: hdr.build({ lowestDiscernibleValue: 1, highestTrackableValue: 60_000_000, numberOfSignificantValueDigits: 3 }),
      };
      const sidecarCpu = () => sidecars.reduce((a, s) => a + cpuSeconds(s.child.pid!), 0);
      const [c0, b0, s0, d0, m0, w0] = [
        process.cpuUsage(),
        cpuSeconds(balancer.pid!),
        sidecarCpu(),
        cpuSeconds(discovery.pid!),
        machineBusySeconds(),
        performance.now(),
      ];
      const r = await closedLoop(call, concurrency, secs, record ? t.h : hdr.build());
      const wall = (performance.now() - w0) / 1000;
      const c = process.cpuUsage(c0);
      const [b, s, d] = [cpuSeconds(balancer.pid!) - b0, sidecarCpu() - s0, cpuSeconds(discovery.pid!) - d0];
      await stream?.close();
      if (!record) return;
      const own = (c.user + c.system) / 1e6 + b + s + d;
      Object.assign(t, {
        ok: t.ok + r.ok,
        errors: t.errors + r.errors,
        seconds: t.seconds + wall,
        clientCpuUs: t.clientCpuUs + c.user + c.system,
        balancerCpuUs: t.balancerCpuUs + b * 1e6,
        sidecarCpuUs: t.sidecarCpuUs + s * 1e6,
        otherCores: t.otherCores + Math.max(0, machineBusySeconds() - m0 - own),
      });
      totals.set(key, t);
      process.stderr.write(`${key}: ${(r.ok / wall).toFixed(0)} req/s, errors ${r.errors}\n`);
    };

    for (const path of ['balancer', 'proxyless'] as Path[]) for (const mode of modes) await run(path, mode, 2, false); // JIT, connections, EWMA
    for (let round = 0; round < rounds; round++) {
      const order: Path[] = round % 2 === 0 ? ['balancer', 'proxyless'] : ['proxyless', 'balancer'];
      for (const mode of modes) for (const path of order) await run(path, mode, seconds, true);
    }

    const rows = [...totals].map(([key, t]) => {
      const [path, mode] = key.split('/');
      const per = (us: number) => us / Math.max(1, t.ok);
      return {
        path,
        mode,
        concurrency,
        requests: t.ok,
        errors: t.errors,
        perSecond: t.ok / t.seconds,
        p50Ms: t.h.getValueAtPercentile(50) / 1000,
        p99Ms: t.h.getValueAtPercentile(99) / 1000,
        clientCpuUsPerRequest: per(t.clientCpuUs),
        balancerCpuUsPerRequest: per(t.balancerCpuUs),
        totalCpuUsPerRequest: per(t.clientCpuUs + t.balancerCpuUs),
        sidecarCpuUsPerRequest: per(t.sidecarCpuUs),
        otherCores: t.otherCores / t.seconds,
      };
    });
    const f = (x: number, d = 1) => x.toFixed(d);
    process.stdout.write(
      [
        '| path | mode | req/s | p50 ms | p99 ms | client CPU µs/req | balancer CPU µs/req | client + balancer µs/req | sidecars CPU µs/req | errors | other load (cores) |',
        '| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |',
        ...rows.map(
          (r) =>
            `| ${r.path} | ${r.mode} | ${f(r.perSecond, 0)} | ${f(r.p50Ms, 2)} | ${f(r.p99Ms, 2)} | ${f(r.clientCpuUsPerRequest)} | ` +
            `${f(r.balancerCpuUsPerRequest)} | ${f(r.totalCpuUsPerRequest)} | ${f(r.sidecarCpuUsPerRequest)} | ${r.errors} | ${f(r.otherCores, 2)} |`,
        ),
      ].join('\n') + '\n',
    );
    for (const mode of modes) {
      const [b, p] = (['balancer', 'proxyless'] as const).map((path) => rows.find((r) => r.path === path && r.mode === mode)!);
      if (b && p)
        process.stdout.write(
          `${mode}: proxyless/balancer total CPU ${f(p.totalCpuUsPerRequest / b.totalCpuUsPerRequest, 2)}x, p99 ${f(p.p99Ms / b.p99Ms, 2)}x, req/s ${f(p.perSecond / b.perSecond, 2)}x\n`,
        );
    }
    if (values.json) {
      writeFileSync(
        values.json,
        JSON.stringify(
          { machine: { cpus: os.cpus().length, node: process.version }, seconds, rounds, concurrency, sidecars: nSidecars, rows },
          null,
          2,
        ),
      );
    }
  } finally {
    for (const c of clients) c.close();
    await Promise.all(children.reverse().map((c) => stop(c, 5000)));
  }
}

main().catch((e) => {
  process.stderr.write(`${e instanceof Error ? e.stack : String(e)}\n`);
  process.exit(1);
});
