// `infergate balancer --workers 2` as a real process tree: both workers share
// the gRPC port and serve calls, the primary's operations port reports both
// (aggregated /metrics, every worker's /status, /readyz), a worker killed
// with SIGKILL is replaced, and SIGTERM drains everything to exit 0.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import type { ChildProcess } from 'node:child_process';
import * as path from 'node:path';
import * as grpc from '@grpc/grpc-js';
import * as protoLoader from '@grpc/proto-loader';
import { PROTO_DIR } from '../../protocol/proto';
import type { DiscoveryServer } from '../../discovery/server/server';
import { freePort, sidecarArgs, startCli, stop, waitReady } from '../../testkit/processes';
import { startTestDiscovery } from '../helpers/discovery-fixture';
import { features, MODELS, rawF32, unary, type InferenceClient } from '../helpers/sidecar-fixture';

const req = {
  modelName: 'ranker',
  inputs: [{ name: 'features', datatype: 'FP32', shape: [1, 256] }],
  rawInputContents: [rawF32(features(1))],
};
const CLIENTS = 6;
const CALLS_PER_CLIENT = 20;

/** A client on a connection of its own: grpc-js shares a connection among clients whose options are equal. */
function ownConnectionClient(port: number, i: number): InferenceClient {
  const def = protoLoader.loadSync(path.join(PROTO_DIR, 'inference.proto'));
  const pkg = grpc.loadPackageDefinition(def) as unknown as {
    inference: { GRPCInferenceService: new (a: string, c: grpc.ChannelCredentials, o: grpc.ChannelOptions) => InferenceClient };
  };
  return new pkg.inference.GRPCInferenceService(`127.0.0.1:${port}`, grpc.credentials.createInsecure(), { 'test.connection': i });
}

interface WorkersStatus {
  workers: Array<{ pid: number; ready: boolean; clusters: Array<{ model: string }> }>;
}

let discovery: DiscoveryServer;
let sidecar: ChildProcess;
let balancer: ChildProcess;
let grpcPort: number;
let ops: string;

before(async () => {
  discovery = await startTestDiscovery({ leaseTtlMs: 1000 });
  const [g, h, m] = [await freePort(), await freePort(), await freePort()];
  sidecar = startCli(sidecarArgs(MODELS, { grpc: g, http: h, metrics: m }, discovery.grpcPort));
  const [bg, bh, bm] = [await freePort(), await freePort(), await freePort()];
  grpcPort = bg;
  ops = `http://127.0.0.1:${bm}`;
  balancer = startCli([
    'balancer',
    '--host',
    '127.0.0.1',
    '--grpc-port',
    String(bg),
    '--http-port',
    String(bh),
    '--metrics-port',
    String(bm),
    '--discovery',
    `127.0.0.1:${discovery.grpcPort}`,
    '--workers',
    '2',
    '--drain-timeout-ms',
    '2000',
  ]);
  await waitReady(`${ops}/readyz`, 60_000);
});

after(async () => {
  if (balancer) await stop(balancer, 5000);
  if (sidecar) await stop(sidecar, 5000);
  await discovery?.close();
});

const status = async (): Promise<WorkersStatus> => (await fetch(`${ops}/status`)).json() as Promise<WorkersStatus>;

test('two workers share the port; the primary reports both and sums their request counts', async () => {
  const st = await status();
  assert.equal(st.workers.length, 2);
  assert.equal(new Set(st.workers.map((w) => w.pid)).size, 2, 'two distinct worker processes');
  assert.ok(st.workers.every((w) => w.ready && w.clusters.some((c) => c.model === 'ranker')));

  const clients = Array.from({ length: CLIENTS }, (_, i) => ownConnectionClient(grpcPort, i));
  try {
    await Promise.all(
      clients.map(async (c) => {
        for (let i = 0; i < CALLS_PER_CLIENT; i++) await unary(c, 'ModelInfer', req);
      }),
    );
  } finally {
    for (const c of clients) c.close();
  }
  const text = await (await fetch(`${ops}/metrics`)).text();
  let ok = 0;
  for (const m of text.matchAll(/^infergate_balancer_requests_total\{[^}]*model="ranker"[^}]*status="OK"[^}]*\} (\d+)/gm))
    ok += Number(m[1]);
  assert.equal(ok, CLIENTS * CALLS_PER_CLIENT, 'every call counted once, summed over the workers');
});

test('a worker killed with SIGKILL is replaced; SIGTERM then drains the pool to exit 0', async () => {
  const [victim] = (await status()).workers.map((w) => w.pid);
  process.kill(victim, 'SIGKILL');
  const until = Date.now() + 30_000;
  for (;;) {
    const pids = (await status()).workers.map((w) => w.pid);
    if (pids.length === 2 && !pids.includes(victim)) break;
    assert.ok(Date.now() < until, `a replacement worker within 30 s (workers now: ${pids.join(', ')})`);
    await new Promise((r) => setTimeout(r, 100));
  }
  await waitReady(`${ops}/readyz`, 30_000);
  const c = ownConnectionClient(grpcPort, 99);
  try {
    assert.equal((await unary<{ modelName: string }>(c, 'ModelInfer', req)).res.modelName, 'ranker');
  } finally {
    c.close();
  }
  assert.equal(await stop(balancer, 15_000), 0, 'primary exit code after SIGTERM');
});
