// The balancer's operations port with real sidecars: /metrics counts what
// clients saw, /status shows the cost inputs, /readyz follows ServerReady.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import type { ChildProcess } from 'node:child_process';
import * as grpc from '@grpc/grpc-js';
import { silentLogger } from '../../../common/log';
import { startBalancer, type Balancer } from '../../../balancer/balancer';
import { escapeHtml, prefersHtml } from '../../../balancer/front/status';
import type { BalancerStatus } from '../../../balancer/front/status';
import type { DiscoveryServer } from '../../../discovery/server/server';
import { freePort, sidecarArgs, startCli, stop } from '../../../testkit/processes';
import { startTestDiscovery, waitFor } from '../../helpers/discovery-fixture';
import { features, independentClient, MODELS, rawF32, unary, type InferenceClient } from '../../helpers/sidecar-fixture';

const req = {
  modelName: 'ranker',
  inputs: [{ name: 'features', datatype: 'FP32', shape: [1, 256] }],
  rawInputContents: [rawF32(features(1))],
};
const CALLS = 20;

/** Samples of one metric family from a Prometheus text page, labels parsed. */
function samples(text: string, name: string): Array<{ labels: Record<string, string>; value: number }> {
  const out = [];
  for (const line of text.split('\n')) {
    if (!line.startsWith(`${name}{`)) continue;
    const close = line.lastIndexOf('}');
    const labels: Record<string, string> = {};
    for (const m of line.slice(name.length + 1, close).matchAll(/(\w+)="((?:[^"\\]|\\.)*)"/g)) labels[m[1]] = m[2];
    out.push({ labels, value: Number(line.slice(close + 1).trim()) });
  }
  return out;
}

describe('balancer operations port', () => {
  let discovery: DiscoveryServer;
  let balancer: Balancer;
  let client: InferenceClient;
  let base: string;
  const sidecars: Array<{ child: ChildProcess; address: string }> = [];

  before(async () => {
    discovery = await startTestDiscovery({ leaseTtlMs: 1000 });
    for (let i = 0; i < 2; i++) {
      const [g, h, m] = [await freePort(), await freePort(), await freePort()];
      const child = startCli(sidecarArgs(MODELS, { grpc: g, http: h, metrics: m }, discovery.grpcPort));
      sidecars.push({ child, address: `127.0.0.1:${g}` });
    }
    balancer = await startBalancer({
      discovery: `127.0.0.1:${discovery.grpcPort}`,
      host: '127.0.0.1',
      grpcPort: 0,
      metricsPort: 0,
      zone: '',
      log: silentLogger,
    });
    base = `http://127.0.0.1:${balancer.metricsPort}`;
    client = independentClient(balancer.grpcPort);
    await waitFor(() => balancer.endpoints('ranker').length === 2, 'both sidecars in the balancer', 30_000);
    for (let i = 0; i < CALLS; i++) await unary(client, 'ModelInfer', req);
  });

  after(async () => {
    client?.close();
    await balancer?.close();
    await Promise.all(sidecars.map((s) => stop(s.child, 3000)));
    await discovery?.close();
  });

  test('/metrics counts every call as OK by endpoint, and an unknown model as NOT_FOUND', async () => {
    await assert.rejects(
      unary(client, 'ModelInfer', { ...req, modelName: 'no-such-model' }),
      (e: grpc.ServiceError) => e.code === grpc.status.NOT_FOUND,
    );
    const res = await fetch(`${base}/metrics`);
    assert.equal(res.status, 200);
    const text = await res.text();
    const reqs = samples(text, 'infergate_balancer_requests_total');
    const ok = reqs.filter((s) => s.labels.model === 'ranker' && s.labels.status === 'OK');
    assert.equal(
      ok.reduce((a, s) => a + s.value, 0),
      CALLS,
    );
    assert.ok(
      ok.every((s) => sidecars.some((c) => c.address === s.labels.endpoint)),
      'labelled by sidecar address',
    );
    assert.ok(
      reqs.some((s) => s.labels.status === 'NOT_FOUND' && s.labels.endpoint === '' && s.value === 1),
      'unknown model counted',
    );
    const picks = samples(text, 'infergate_balancer_picks_total').reduce((a, s) => a + s.value, 0);
    assert.ok(picks >= CALLS, `picks ${picks} cover the calls`);
    assert.match(text, /^infergate_balancer_request_seconds_count\{model="ranker",version=""\} 20$/m);
    assert.match(text, /^infergate_balancer_config_version 0$/m);
    assert.match(text, /^infergate_balancer_upstream_connections\{endpoint="127\.0\.0\.1:\d+"\} [1-9]/m);
  });

  test('/status lists both endpoints with numeric cost inputs, as JSON and as escaped HTML', async () => {
    const res = await fetch(`${base}/status`);
    assert.match(res.headers.get('content-type') ?? '', /application\/json/);
    const st = (await res.json()) as BalancerStatus;
    const ranker = st.clusters.find((c) => c.model === 'ranker');
    assert.ok(ranker);
    assert.deepEqual(ranker.endpoints.map((e) => e.address).sort(), sidecars.map((s) => s.address).sort());
    for (const e of ranker.endpoints) {
      for (const k of ['inFlight', 'latencyMs', 'inFlightAgeMs', 'weight', 'breakerInFlight', 'breakerMax'] as const)
        assert.equal(typeof e[k], 'number', k);
      // An endpoint P2C never picked may have no report yet (heartbeats publish only on movement): null, not a made-up 0.
      assert.ok(e.reportedQueueDepth === null || typeof e.reportedQueueDepth === 'number');
      assert.equal(e.reportAgeMs === null, e.reportedQueueDepth === null);
    }
    assert.ok(
      ranker.endpoints.some((e) => typeof e.reportedQueueDepth === 'number'),
      'ORCA trailers reported a queue depth',
    );
    assert.ok(st.retryBudgets.some((b) => b.model === 'ranker'));

    for (const html of [
      await (await fetch(`${base}/status`, { headers: { accept: 'text/html,application/xhtml+xml,*/*;q=0.8' } })).text(),
      await (await fetch(`${base}/status.html`)).text(),
    ]) {
      assert.match(html, /^<!doctype html>/);
      for (const s of sidecars) assert.ok(html.includes(escapeHtml(s.address)), s.address);
    }
  });

  test('/healthz and /readyz answer 200 while the endpoints serve', async () => {
    assert.equal((await fetch(`${base}/healthz`)).status, 200);
    const r = await fetch(`${base}/readyz`);
    assert.equal(r.status, 200);
    assert.deepEqual(await r.json(), { ready: true });
    assert.equal((await fetch(`${base}/nope`)).status, 404);
  });
});

test('escapeHtml escapes every markup character', () => {
  assert.equal(escapeHtml(`<a href="x">'&'</a>`), '&lt;a href=&quot;x&quot;&gt;&#39;&amp;&#39;&lt;/a&gt;');
  assert.equal(escapeHtml('127.0.0.1:8001'), '127.0.0.1:8001');
});

test('prefersHtml follows the Accept ranking', () => {
  assert.equal(prefersHtml(undefined), false);
  assert.equal(prefersHtml('*/*'), false);
  assert.equal(prefersHtml('text/html,application/xhtml+xml,*/*;q=0.8'), true);
  assert.equal(prefersHtml('application/json, text/html;q=0.9'), false);
  assert.equal(prefersHtml('text/html;q=0.5, application/json;q=0.1'), true);
});
