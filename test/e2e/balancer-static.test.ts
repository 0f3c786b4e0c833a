// A balancer with static endpoints and no discovery at all, as it fronts
// existing Triton or KServe servers: `infergate balancer --config FILE` (no
// --discovery) over two standalone CLI sidecars that register nowhere. The
// balancer's stdout is read as JSON lines, so the structured log lines are
// checked as operators see them. Also: a hot reload that drops an endpoint,
// a reload that names a model no endpoint serves (rejected, last good kept),
// and the start-up errors without discovery.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import type { BalancerStatus } from '../../balancer/front/status';
import { CLI, freePort, stop, waitReady } from '../../testkit/processes';
import { waitFor } from '../helpers/discovery-fixture';
import { repoSidecar, served, type SidecarProc } from '../helpers/e2e-fixture';
import { features, independentClient, MODELS, rawF32, unary, type InferenceClient } from '../helpers/sidecar-fixture';

const inferRequest = (id: string) => ({
  modelName: 'ranker',
  id,
  inputs: [{ name: 'features', datatype: 'FP32', shape: [1, 256] }],
  rawInputContents: [rawF32(features(1))],
});

const endpointsYaml = (addresses: readonly string[]) =>
  `endpoints:\n${addresses.map((a) => `  - { address: "${a}", models: { ranker: [1, 2] } }\n`).join('')}objectives:\n  search: { model: ranker, version: 2 }\n`;

type LogLine = Record<string, unknown> & { msg: string };

/** Starts the CLI balancer with stdout piped; every JSON line it logs is pushed into lines. */
function balancerProcess(args: string[], lines: LogLine[]): ChildProcess {
  const child = spawn(process.execPath, [CLI, 'balancer', ...args], {
    stdio: ['ignore', 'pipe', 'inherit'],
    env: { ...process.env, INFERGATE_LOG_LEVEL: 'info' },
  });
  let rest = '';
  child.stdout!.on('data', (chunk: Buffer) => {
    const parts = (rest + chunk.toString('utf8')).split('\n');
    rest = parts.pop() ?? '';
    for (const p of parts) if (p.trim()) lines.push(JSON.parse(p) as LogLine);
  });
  return child;
}

describe('a balancer with static endpoints and no discovery process', () => {
  const dir = mkdtempSync(path.join(tmpdir(), 'infergate-static-'));
  const file = path.join(dir, 'routing.yaml');
  const lines: LogLine[] = [];
  const sidecars: SidecarProc[] = [];
  let balancer: ChildProcess;
  let client: InferenceClient;
  let ops: string;
  let rest: string;

  const status = async (): Promise<BalancerStatus> => (await (await fetch(`${ops}/status`)).json()) as BalancerStatus;
  const okCounts = async () => Promise.all(sidecars.map(async (s) => (await served(s)).OK ?? 0));
  const until = async (cond: () => Promise<boolean>, what: string) => {
    for (let end = Date.now() + 10_000; !(await cond()); await new Promise((r) => setTimeout(r, 50)))
      if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
  };

  before(async () => {
    for (let i = 0; i < 2; i++) sidecars.push(await repoSidecar(MODELS, undefined));
    await Promise.all(sidecars.map((s) => waitReady(`http://127.0.0.1:${s.metricsPort}/healthz`, 60_000)));
    writeFileSync(file, endpointsYaml(sidecars.map((s) => s.address)));
    const [g, h, m] = [await freePort(), await freePort(), await freePort()];
    balancer = balancerProcess(
      ['--config', file, '--host', '127.0.0.1', '--grpc-port', String(g), '--http-port', String(h), '--metrics-port', String(m)],
      lines,
    );
    ops = `http://127.0.0.1:${m}`;
    rest = `http://127.0.0.1:${h}`;
    await waitReady(`${ops}/readyz`, 30_000);
    client = independentClient(g);
  });

  after(async () => {
    client?.close();
    if (balancer) await stop(balancer, 5000);
    await Promise.all(sidecars.map((s) => stop(s.child, 3000)));
    rmSync(dir, { recursive: true, force: true });
  });

  test('it is ready at once and logged each static endpoint joining and the readiness flip, one line each', () => {
    const added = lines.filter((l) => l.event === 'endpoint_added');
    assert.deepEqual(
      added.map((l) => [l.model, l.endpoint, l.address, l.reason]),
      sidecars.map((s) => ['ranker', `static:${s.address}`, s.address, 'config listed it (HEALTHY)']),
      'in the order the file lists them',
    );
    const flips = lines.filter((l) => l.event === 'readiness');
    assert.deepEqual(
      flips.map((l) => [l.msg, l.ready]),
      [['balancer ready', true]],
    );
  });

  test('inferences over gRPC and REST reach both sidecars; an objective routes to its pinned version', async () => {
    const before = await okCounts();
    for (let i = 0; i < 40; i++) assert.equal((await unary<{ id: string }>(client, 'ModelInfer', inferRequest(`s${i}`))).res.id, `s${i}`);
    const r = await fetch(`${rest}/v2/models/ranker/infer`, {
      method: 'POST',
      headers: { objective: 'search' },
      body: JSON.stringify({ inputs: [{ name: 'features', shape: [1, 256], datatype: 'FP32', data: Array.from(features(1)) }] }),
    });
    assert.equal(r.status, 200);
    assert.equal(((await r.json()) as { model_version: string }).model_version, '2');
    const after = await okCounts();
    assert.ok(
      after.every((n, i) => n > before[i]),
      `both sidecars served (before ${before}, after ${after})`,
    );
    assert.equal((await unary<{ ready?: boolean }>(client, 'ModelReady', { name: 'ranker' })).res.ready, true);
  });

  test('a reload naming a model no endpoint serves is rejected and the last good config stays', async () => {
    const version = (await status()).configVersion;
    writeFileSync(file, `${endpointsYaml(sidecars.map((s) => s.address))}  feed: { model: recommend }\n`);
    await until(async () => lines.some((l) => /routing config rejected/.test(l.msg)), 'the rejection');
    const rejected = lines.find((l) => /routing config rejected/.test(l.msg))!;
    assert.match(rejected.msg, /objectives\.feed\.model: found model 'recommend'; expected a model some static endpoint serves \(ranker\)/);
    assert.equal((await status()).configVersion, version);
    assert.equal((await unary<{ id: string }>(client, 'ModelInfer', inferRequest('still'))).res.id, 'still');
  });

  test('a hot reload that drops an endpoint removes it (one log line) and calls go to the one left', async () => {
    lines.length = 0;
    writeFileSync(file, endpointsYaml([sidecars[0].address]));
    await until(async () => (await status()).clusters.find((c) => c.model === 'ranker')?.endpoints.length === 1, 'one endpoint left');
    await waitFor(() => lines.some((l) => l.event === 'endpoint_removed'), 'the removal logged');
    assert.deepEqual(
      lines.filter((l) => String(l.event).startsWith('endpoint_')).map((l) => [l.event, l.address, l.reason]),
      [['endpoint_removed', sidecars[1].address, 'config removed it']],
    );
    const before = await okCounts();
    for (let i = 0; i < 10; i++) await unary(client, 'ModelInfer', inferRequest(`r${i}`));
    const after = await okCounts();
    assert.deepEqual([after[0] - before[0], after[1] - before[1]], [10, 0]);
    assert.ok(!lines.some((l) => l.event === 'readiness'), 'still ready: no flip');
  });
});

describe('start-up without discovery', () => {
  const dir = mkdtempSync(path.join(tmpdir(), 'infergate-static-bad-'));
  after(() => rmSync(dir, { recursive: true, force: true }));
  const run = (args: string[]) => spawnSync(process.execPath, [CLI, 'balancer', ...args], { encoding: 'utf8', timeout: 30_000 });

  test('neither --discovery nor --config: a usage error naming both', () => {
    const r = run([]);
    assert.equal(r.status, 2, r.stderr);
    assert.match(r.stderr, /--discovery HOST:PORT or --config FILE listing endpoints: is required/);
  });

  test('a --config without endpoints, or routing to a model none serves: the config error names the field and line', () => {
    const cases: Array<[yaml: string, msg: RegExp]> = [
      [
        'models: { ranker: {} }\n',
        /routing\.yaml:1:1: endpoints: found no endpoints; expected at least one static endpoint .*pass --discovery or list endpoints/,
      ],
      [
        'endpoints: [{ address: "127.0.0.1:9", models: { ranker: [] } }]\nobjectives: { feed: { model: recommend } }\n',
        /routing\.yaml:2:30: objectives\.feed\.model: found model 'recommend'/,
      ],
    ];
    for (const [yaml, msg] of cases) {
      const file = path.join(dir, 'routing.yaml');
      writeFileSync(file, yaml);
      const r = run(['--config', file, '--grpc-port', '0', '--http-port', '0', '--metrics-port', '0']);
      assert.equal(r.status, 1, r.stderr);
      assert.match(r.stderr, msg);
    }
  });
});
