// Routing policy end to end with real processes on loopback (the patterns of
// balancer.test.ts): discovery and the balancer in this process, sidecars
// as CLI processes registering through --discovery, a routing config the test
// rewrites. Which sidecar served a call is read from per-sidecar /metrics
// deltas, so every figure here crossed the wire.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import * as grpc from '@grpc/grpc-js';
import type { Balancer } from '../../balancer/balancer';
import type { BalancerStatus, EndpointStatus } from '../../balancer/front/status';
import type { DiscoveryServer } from '../../discovery/server/server';
import { waitFor } from '../helpers/discovery-fixture';
import { sidecarProcess, served, startBalancerFleet, stopBalancerFleet, TestConfig, type SidecarProc } from '../helpers/e2e-fixture';
import { features, rawF32, type InferenceClient } from '../helpers/sidecar-fixture';

/** Inference requests the sidecar finished, any status (fault aborts included). */
async function finished(s: SidecarProc): Promise<number> {
  return Object.values(await served(s)).reduce((x, y) => x + y, 0);
}

const REQUEST = {
  modelName: 'ranker',
  modelVersion: '',
  id: 'r',
  inputs: [{ name: 'features', datatype: 'FP32', shape: [1, 256] }],
  rawInputContents: [rawF32(features(1))],
};

/** One ModelInfer naming no version, with request metadata; resolves with the version that answered. */
function infer(client: InferenceClient, md: Record<string, string> = {}): Promise<string> {
  const meta = new grpc.Metadata();
  for (const [k, v] of Object.entries(md)) meta.set(k, v);
  return new Promise((resolve, reject) => {
    (
      client.ModelInfer as (
        r: unknown,
        m: grpc.Metadata,
        o: grpc.CallOptions,
        cb: (e: grpc.ServiceError | null, r: { modelVersion: string }) => void,
      ) => void
    )(REQUEST, meta, { deadline: Date.now() + 10_000 }, (e, r) => (e ? reject(e) : resolve(r.modelVersion)));
  });
}

/** n calls with `concurrency` in flight; every one must succeed (failures are retried by the balancer). Returns the versions. */
async function load(client: InferenceClient, n: number, concurrency: number, md: Record<string, string> = {}): Promise<string[]> {
  const out: string[] = [];
  let started = 0;
  const worker = async () => {
    while (started++ < n) out.push(await infer(client, md));
  };
  await Promise.all(Array.from({ length: concurrency }, worker));
  return out;
}

describe('routing policy with real sidecars', () => {
  let discovery: DiscoveryServer;
  let balancer: Balancer;
  let client: InferenceClient;
  // Two sidecars in the balancer's zone a, one in zone b; the outlier test adds a faulty one.
  const sidecars: SidecarProc[] = [];
  const config = new TestConfig();

  /** Each sidecar's calls while fn runs. */
  const countsDuring = async (fn: () => Promise<unknown>): Promise<number[]> => {
    const before = await Promise.all(sidecars.map(finished));
    await fn();
    return (await Promise.all(sidecars.map(finished))).map((n, i) => n - before[i]);
  };

  /** Pushes a routing config and waits until the balancer runs on it. */
  const apply = async (yaml: string): Promise<void> => {
    const v = config.set(yaml);
    await waitFor(() => balancer.configVersion === v, `config version ${v} in the balancer`, 3000);
  };

  /** The balancer's /status entry for one ranker endpoint. */
  const endpointStatus = async (address: string): Promise<EndpointStatus & { clusterEjected: number }> => {
    const st = (await (await fetch(`http://127.0.0.1:${balancer.metricsPort}/status`)).json()) as BalancerStatus;
    const c = st.clusters.find((x) => x.model === 'ranker');
    const e = c?.endpoints.find((x) => x.address === address);
    assert.ok(c && e, `${address} in /status`);
    return { ...e, clusterEjected: c.ejected };
  };

  before(async () => {
    config.set('{}\n');
    ({ discovery, balancer, client } = await startBalancerFleet(config, ['a', 'a', 'b'], sidecars));
  });

  after(() => stopBalancerFleet({ client, balancer, discovery }, sidecars));

  // Per-call draws make version 2's count binomial(n, p): ±4.5 sigma fails on a wrong or inverted
  // share (80/20 read as 20/80 is 47 sigma off) but flakes about once in 150,000 runs.
  const N = 1000;
  for (const [v1, v2] of [
    [80, 20],
    [50, 50],
    [95, 5],
  ]) {
    test(`split ${v1}/${v2}: version 2's share of ${N} calls is within 4.5 sigma`, async (t) => {
      await apply(`models: { ranker: { split: { "1": ${v1}, "2": ${v2} } } }\n`);
      const versions = await load(client, N, 16);
      assert.equal(versions.length, N);
      assert.deepEqual(new Set(versions), new Set(['1', '2']));
      const p = v2 / (v1 + v2);
      const got = versions.filter((v) => v === '2').length;
      const tol = 4.5 * Math.sqrt(N * p * (1 - p));
      t.diagnostic(`version 2: ${got} of ${N} (expected ${N * p} ± ${tol.toFixed(1)})`);
      assert.ok(Math.abs(got - N * p) <= tol, `version 2 got ${got} calls; expected ${N * p} ± ${tol.toFixed(1)}`);
    });
  }

  // Zone affinity: sidecars[0..1] are in the balancer's zone a, sidecars[2] in zone b.
  const zoneCases = [
    // Four calls in flight over two local sidecars is far below the default spillover (32 per endpoint).
    { name: 'low load stays in zone a', yaml: '{}\n', concurrency: 4, spills: false },
    // spillover_in_flight 0 spills whenever a local sidecar reports any call in flight, which 16 concurrent calls do.
    {
      name: 'spillover_in_flight 0 under load spills to zone b',
      yaml: 'models: { ranker: { zone_affinity: { spillover_in_flight: 0 } } }\n',
      concurrency: 16,
      spills: true,
    },
  ];
  for (const c of zoneCases) {
    test(`zone affinity: ${c.name}`, async (t) => {
      await apply(c.yaml);
      const [a1, a2, b] = await countsDuring(() => load(client, 300, c.concurrency));
      t.diagnostic(`calls per sidecar (a, a, b): ${a1}, ${a2}, ${b}`);
      assert.ok(a1 > 0 && a2 > 0, 'both local sidecars served calls');
      if (c.spills) assert.ok(b > 0, 'zone b got spilled calls');
      else assert.equal(b, 0, 'zone b got no calls');
    });
  }

  // Shard keys ignore zone affinity (a key's subset must not move with load), so all three sidecars take part.
  for (const subset of [1, 2]) {
    test(`shard key, subset_size ${subset}: each key stays on at most ${subset} sidecar(s)`, async (t) => {
      await apply(`models: { ranker: { shard: { header: x-tenant-id, subset_size: ${subset} } } }\n`);
      const used = new Set<number>();
      const perKey: string[] = [];
      // One key at a time, so each key's /metrics delta is its own.
      for (let k = 0; k < 20; k++) {
        const counts = await countsDuring(() => load(client, 10, 5, { 'x-tenant-id': `tenant-${k}` }));
        assert.equal(
          counts.reduce((a, b) => a + b, 0),
          10,
          `tenant-${k}: every call reached one sidecar`,
        );
        const hit = counts.flatMap((n, i) => (n > 0 ? [i] : []));
        assert.ok(hit.length <= subset, `tenant-${k} reached sidecars ${hit.join(', ')}; at most ${subset} expected`);
        for (const i of hit) used.add(i);
        perKey.push(hit.join('+'));
      }
      t.diagnostic(`sidecars per key: ${perKey.join(' ')}`);
      // Rendezvous hashing on random endpoint ids: all 20 keys sharing one subset has odds of about 3 in 3^20.
      assert.ok(used.size >= subset + 1, `keys spread over sidecars ${[...used].join(', ')}`);
    });
  }

  test('outlier detection ejects a failing sidecar, sends it nothing while ejected, tries it again after', async (t) => {
    const faulty = await sidecarProcess(discovery.grpcPort, ['--fault-abort-percent', '100'], 'a');
    sidecars.push(faulty);
    await waitFor(() => balancer.endpoints('ranker').includes(faulty.address), 'the faulty sidecar joined', 30_000);
    // Round robin gives the faulty sidecar every third call, so the failure count is exact rather than
    // P2C's guess (it avoids the faulty one once its estimate is high). max_ejection_percent stays at
    // Envoy's 10: the cap admits one ejection while none is in force (outlier-detector.ts), so one of
    // four may go. interval_ms is long so nothing decays and the second ejection is 2 × base.
    const base = 1000;
    await apply(
      `models: { ranker: { picker: round_robin, outlier_detection: { consecutive_failures: 5, interval_ms: 60000, base_ejection_ms: ${base}, max_ejection_ms: 10000 } } }\n`,
    );
    const start = await finished(faulty);
    // Every call succeeds for the client: the balancer retries the aborted ones on a healthy sidecar.
    const callsUntilEjected = async (): Promise<number> => {
      for (let i = 1; i <= 60; i++) {
        await infer(client);
        if ((await endpointStatus(faulty.address)).ejected) return i;
      }
      assert.fail('the faulty sidecar was never ejected');
    };
    const first = await callsUntilEjected();
    const ejectedAt = await finished(faulty);
    t.diagnostic(`first ejection after ${first} client calls, ${ejectedAt - start} of them to the faulty sidecar`);
    assert.equal(ejectedAt - start, 5, 'ejected at exactly consecutive_failures failures');
    const st = await endpointStatus(faulty.address);
    assert.equal(st.clusterEjected, 1);

    // While ejected: calls are sent only while /status shows more than 300 ms of ejection left, so a
    // call can land after the return only if this process stalls for 300 ms between check and pick.
    let during = 0;
    for (let e = st; e.ejected && (e.ejectedForMs ?? 0) > 300; e = await endpointStatus(faulty.address)) {
      await infer(client);
      during++;
    }
    t.diagnostic(`calls while ejected: ${during}, to the faulty sidecar: ${(await finished(faulty)) - ejectedAt}`);
    assert.ok(during > 0, 'calls were sent during the ejection');
    assert.equal(await finished(faulty), ejectedAt, 'an ejected sidecar gets no calls');

    // Return: a sidecar started with --fault-abort-percent 100 cannot turn healthy, and a restarted one
    // would register as a new endpoint (fresh state, not a return). So "return" is shown as Envoy
    // defines it: once the ejection ends the endpoint is back in rotation and is tried again; it fails
    // again and is re-ejected for twice the base time, the multiplier growing as documented.
    const until = Date.now() + 5000;
    while ((await endpointStatus(faulty.address)).ejected) {
      assert.ok(Date.now() < until, 'the ejection ended');
      await new Promise((r) => setTimeout(r, 20));
    }
    const second = await callsUntilEjected();
    const again = await endpointStatus(faulty.address);
    t.diagnostic(
      `second ejection after ${second} client calls, ${(await finished(faulty)) - ejectedAt} to the faulty sidecar; ${again.ejectedForMs} ms left`,
    );
    assert.equal((await finished(faulty)) - ejectedAt, 5, 'returned to rotation: it was tried again');
    assert.ok((again.ejectedForMs ?? 0) > base, `second ejection longer than base (${again.ejectedForMs} ms left)`);
  });
});
