// Refused streams are retried elsewhere, outside the retry budget
// (balancer/upstream/call.ts wasRefused, router.ts): a stream the peer reset
// with REFUSED_STREAM, or one beyond a GOAWAY's last-stream-id, was never
// processed (RFC 9113 §8.7). Real processes and sockets on loopback: one
// sidecar CLI process, and two real HTTP/2 servers that refuse everything
// (test/helpers/refusing-peers.ts) listed as static endpoints of the same
// model, so two of every three first picks are refused, and a call may be
// refused twice before it reaches the sidecar. Outlier ejection is off, so
// the refusers stay candidates for the whole run.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import * as grpc from '@grpc/grpc-js';
import { silentLogger } from '../../common/log';
import { startBalancer, type Balancer } from '../../balancer/balancer';
import type { DiscoveryServer } from '../../discovery/server/server';
import { stop } from '../../testkit/processes';
import { startTestDiscovery, waitFor } from '../helpers/discovery-fixture';
import { sidecarProcess, TestConfig, type SidecarProc } from '../helpers/e2e-fixture';
import { goawayRefuser, rstRefuser, type RefusingPeer } from '../helpers/refusing-peers';
import { features, independentClient, rawF32, unary, type InferenceClient } from '../helpers/sidecar-fixture';

const req = (id = '') => ({
  modelName: 'ranker',
  id,
  inputs: [{ name: 'features', datatype: 'FP32', shape: [1, 256] }],
  rawInputContents: [rawF32(features(1))],
});

describe('refused streams with a real sidecar and two refusing peers', () => {
  let discovery: DiscoveryServer;
  let balancer: Balancer;
  let client: InferenceClient;
  let sidecar: SidecarProc;
  let rst: RefusingPeer;
  let goaway: RefusingPeer;

  before(async () => {
    [rst, goaway] = await Promise.all([rstRefuser(), goawayRefuser()]);
    const config = new TestConfig();
    config.set(
      [
        'defaults: { outlier_detection: { consecutive_failures: 0 }, retry: { max_retries: 1 } }',
        'endpoints:',
        `  - { address: "127.0.0.1:${rst.port}", zone: a, models: { ranker: [1, 2] } }`,
        `  - { address: "127.0.0.1:${goaway.port}", zone: a, models: { ranker: [1, 2] } }`,
        '',
      ].join('\n'),
    );
    discovery = await startTestDiscovery({ leaseTtlMs: 1000, config });
    sidecar = await sidecarProcess(discovery.grpcPort);
    balancer = await startBalancer({
      discovery: `127.0.0.1:${discovery.grpcPort}`,
      host: '127.0.0.1',
      grpcPort: 0,
      zone: 'a',
      log: silentLogger,
    });
    client = independentClient(balancer.grpcPort);
    await waitFor(() => balancer.endpoints('ranker').length === 3, 'the sidecar and both refusers in the balancer', 30_000);
  });

  after(async () => {
    client?.close();
    await balancer?.close();
    if (sidecar) await stop(sidecar.child, 3000);
    await discovery?.close();
    await rst?.close();
    await goaway?.close();
  });

  test('2,000 unary calls at 32 in flight: none fails, though most first attempts are refused', async (t) => {
    const total = 2000;
    let next = 0;
    let ok = 0;
    const failures: string[] = [];
    const retriesBefore = balancer.retries;
    // Half carry a deadline (sent upstream as unary calls), half none (sent on shared upstream streams).
    const worker = async () => {
      while (next < total) {
        const i = next++;
        const opts: grpc.CallOptions = i % 2 === 0 ? { deadline: Date.now() + 10_000 } : {};
        try {
          await unary(client, 'ModelInfer', req(), opts);
          ok++;
        } catch (e) {
          failures.push((e as grpc.ServiceError).details ?? String(e));
        }
      }
    };
    await Promise.all(Array.from({ length: 32 }, worker));
    t.diagnostic(
      `calls ${total}, OK ${ok}, failed ${failures.length}; streams refused by RST_STREAM ${rst.refused()}, ` +
        `connections refused by GOAWAY ${goaway.refused()}, retries ${balancer.retries - retriesBefore}`,
    );
    assert.deepEqual(failures.slice(0, 5), [], `${failures.length} of ${total} failed`);
    assert.equal(ok, total);
    assert.ok(rst.refused() > 100, `the RST_STREAM refuser was tried (${rst.refused()} streams)`);
    assert.ok(goaway.refused() > 10, `the GOAWAY refuser was tried (${goaway.refused()} connections)`);
  });

  test('a ModelStreamInfer stream (each message routed) gets every answer without an error', async (t) => {
    const stream = (client.ModelStreamInfer as () => grpc.ClientDuplexStream<unknown, { errorMessage?: string }>)();
    const answers: Array<{ errorMessage?: string }> = [];
    const ended = new Promise<void>((resolve, reject) => {
      stream.on('data', (m: { errorMessage?: string }) => answers.push(m));
      stream.on('end', resolve);
      stream.on('error', reject);
    });
    const before = rst.refused() + goaway.refused();
    for (let i = 0; i < 500; i++) stream.write(req(`s${i}`));
    stream.end();
    await ended;
    const errors = answers.filter((a) => (a.errorMessage ?? '') !== '');
    t.diagnostic(
      `stream messages 500, answered ${answers.length}, errors ${errors.length}; refusals meanwhile ${rst.refused() + goaway.refused() - before}`,
    );
    assert.equal(answers.length, 500);
    assert.deepEqual(errors.slice(0, 3), [], `${errors.length} error answers`);
    assert.ok(rst.refused() + goaway.refused() > before, 'the refusers were tried during the stream');
  });
});
