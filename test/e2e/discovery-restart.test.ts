// Static stability across discovery restarts (discovery/server/watch-hub.ts
// warm-up, discovery/client/watcher-view.ts merge): kill -9 of discovery and
// a restart on the same port, three times, under load, with the memory store
// (which comes back empty) and with etcd. Real processes: discovery and
// three sidecars as CLI processes, etcd; the balancer in this process, whose
// routing log says whether its view ever lost an endpoint. Each restart
// waits for the end of discovery's default warm-up (lease TTL + 7 s), when a
// view that was only merged becomes the view.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import type { ChildProcess } from 'node:child_process';
import type * as grpc from '@grpc/grpc-js';
import { startBalancer, type Balancer } from '../../balancer/balancer';
import { freePort, startCli, stop, waitReady } from '../../testkit/processes';
import { etcdMissing, startEtcd, type EtcdProcess } from '../../testkit/etcd-process';
import { waitFor } from '../helpers/discovery-fixture';
import { sidecarProcess, type SidecarProc } from '../helpers/e2e-fixture';
import { captureLogger } from '../helpers/capture-log';
import { features, independentClient, rawF32, unary, type InferenceClient } from '../helpers/sidecar-fixture';

const req = {
  modelName: 'ranker',
  inputs: [{ name: 'features', datatype: 'FP32', shape: [1, 256] }],
  rawInputContents: [rawF32(features(1))],
};

/** A discovery CLI process on fixed ports, restartable. */
class DiscoveryProc {
  child: ChildProcess | undefined;
  constructor(
    readonly grpcPort: number,
    readonly httpPort: number,
    private readonly extra: readonly string[],
  ) {}

  async start(): Promise<void> {
    this.child = startCli([
      'discovery',
      ...['--host', '127.0.0.1', '--grpc-port', String(this.grpcPort), '--http-port', String(this.httpPort)],
      ...['--lease-ttl-ms', '1000', ...this.extra],
    ]);
    await waitReady(`http://127.0.0.1:${this.httpPort}/healthz`, 15_000);
  }

  async kill9(): Promise<void> {
    const c = this.child!;
    if (c.exitCode === null && c.signalCode === null) {
      await new Promise<void>((r) => {
        c.once('exit', () => r());
        c.kill('SIGKILL');
      });
    }
  }

  /** GET /endpoints: whether the view is partial, and its endpoint count for ranker. */
  async view(): Promise<{ partial: boolean; ranker: number }> {
    const body = (await (await fetch(`http://127.0.0.1:${this.httpPort}/endpoints`)).json()) as {
      partial: boolean;
      clusters: Record<string, unknown[]>;
    };
    return { partial: body.partial, ranker: body.clusters.ranker?.length ?? 0 };
  }
}

/** Waits until discovery's warm-up is over and it lists n ranker endpoints. */
async function complete(d: DiscoveryProc, n: number): Promise<void> {
  const until = Date.now() + 30_000;
  for (;;) {
    const v = await d.view().catch(() => undefined);
    if (v && !v.partial && v.ranker === n) return;
    assert.ok(Date.now() < until, `discovery complete with ${n} endpoints (last: ${JSON.stringify(v)})`);
    await new Promise((r) => setTimeout(r, 200));
  }
}

/** Unary calls at `inFlight` in flight until stop(); tallies OK and failed. */
function load(client: InferenceClient, inFlight: number) {
  let running = true;
  const tally = { sent: 0, ok: 0, failed: [] as string[] };
  const worker = async () => {
    while (running) {
      tally.sent++;
      try {
        await unary(client, 'ModelInfer', req, { deadline: Date.now() + 10_000 });
        tally.ok++;
      } catch (e) {
        tally.failed.push((e as grpc.ServiceError).details ?? String(e));
      }
    }
  };
  const done = Promise.all(Array.from({ length: inFlight }, worker));
  return {
    tally,
    stop: async () => {
      running = false;
      await done;
    },
  };
}

for (const store of ['memory', 'etcd'] as const) {
  const skip = store === 'etcd' ? etcdMissing() : undefined;
  describe(`discovery (${store} store) killed and restarted under load`, { skip }, () => {
    let etcd: EtcdProcess | undefined;
    let discovery: DiscoveryProc;
    let balancer: Balancer;
    let client: InferenceClient;
    const sidecars: SidecarProc[] = [];
    const log = captureLogger();
    /** Addresses the balancer removed (one line per model each serves). */
    const removed = () => [...new Set(log.lines.filter((l) => l.fields.event === 'endpoint_removed').map((l) => String(l.fields.address)))];

    before(async () => {
      etcd = store === 'etcd' ? await startEtcd() : undefined;
      const extra = etcd ? ['--store', 'etcd', '--etcd-endpoints', etcd.url, '--etcd-prefix', '/restart-test/'] : [];
      discovery = new DiscoveryProc(await freePort(), await freePort(), extra);
      await discovery.start();
      for (let i = 0; i < 3; i++) sidecars.push(await sidecarProcess(discovery.grpcPort));
      balancer = await startBalancer({ discovery: `127.0.0.1:${discovery.grpcPort}`, host: '127.0.0.1', grpcPort: 0, zone: 'a', log });
      client = independentClient(balancer.grpcPort);
      await waitFor(() => balancer.endpoints('ranker').length === 3, 'three sidecars in the balancer', 30_000);
      await complete(discovery, 3);
    });

    after(async () => {
      client?.close();
      await balancer?.close();
      await Promise.all(sidecars.map((s) => stop(s.child, 3000)));
      if (discovery?.child) await stop(discovery.child, 3000);
      await etcd?.stop();
    });

    test('three kill -9 restarts: no call fails and the balancer never loses an endpoint', async (t) => {
      let smallest = balancer.endpoints('ranker').length;
      const sampler = setInterval(() => (smallest = Math.min(smallest, balancer.endpoints('ranker').length)), 5);
      const l = load(client, 16);
      try {
        for (let i = 0; i < 3; i++) {
          await discovery.kill9();
          await new Promise((r) => setTimeout(r, 300));
          await discovery.start();
          await complete(discovery, 3);
        }
      } finally {
        await l.stop();
        clearInterval(sampler);
      }
      t.diagnostic(
        `calls ${l.tally.sent}, OK ${l.tally.ok}, failed ${l.tally.failed.length} ${JSON.stringify(l.tally.failed.slice(0, 3))}; ` +
          `fewest endpoints seen ${smallest}`,
      );
      assert.deepEqual(l.tally.failed.slice(0, 5), [], `${l.tally.failed.length} of ${l.tally.sent} calls failed`);
      assert.deepEqual(removed(), [], 'no endpoint left the balancer');
      assert.equal(smallest, 3);
    });

    test('a sidecar that died while discovery was down leaves the view when the warm-up ends, and only it', async (t) => {
      const l = load(client, 8);
      const victim = sidecars[0];
      try {
        await discovery.kill9();
        victim.child.kill('SIGKILL');
        await new Promise<void>((r) => victim.child.once('exit', () => r()));
        sidecars.splice(0, 1);
        await discovery.start();
        await complete(discovery, 2);
        await waitFor(() => !balancer.endpoints('ranker').includes(victim.address), 'the dead sidecar gone from the balancer', 5000);
      } finally {
        await l.stop();
      }
      t.diagnostic(
        `calls ${l.tally.sent}, OK ${l.tally.ok}, failed ${l.tally.failed.length} ${JSON.stringify(l.tally.failed.slice(0, 3))}`,
      );
      assert.deepEqual(removed(), [victim.address]);
      assert.deepEqual(l.tally.failed.slice(0, 5), [], `${l.tally.failed.length} of ${l.tally.sent} calls failed`);
      assert.equal(balancer.endpoints('ranker').length, 2);
    });
  });
}
