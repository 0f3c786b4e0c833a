// The balancer's HTTP/2 front against requests a careless or hostile client
// sends, with a real sidecar behind it (300 ms of injected delay, so calls
// are still out when a client gives up): headers gRPC cannot carry, a
// request the sidecar cannot decode beside good ones on a shared upstream
// stream, compressed messages, and clients that cancel.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import * as http2 from 'node:http2';
import { silentLogger } from '../../common/log';
import { startBalancer, type Balancer } from '../../balancer/balancer';
import { frame } from '../../protocol/grpc-wire';
import type { DiscoveryServer } from '../../discovery/server/server';
import { stop } from '../../testkit/processes';
import { encodeFp32Request } from '../../testkit/raw-client';
import { startTestDiscovery, waitFor } from '../helpers/discovery-fixture';
import { sidecarProcess, type SidecarProc } from '../helpers/e2e-fixture';

const INFER = '/inference.GRPCInferenceService/ModelInfer';
const STREAM = '/inference.GRPCInferenceService/ModelStreamInfer';
const GOOD = encodeFp32Request('ranker', 'features', 1, 256);
// Well-formed at the top level (the balancer peeks it fine) but `inputs` (field 5) holds bytes protobuf cannot decode.
const UNDECODABLE = Buffer.concat([Buffer.from([0x0a, 0x06]), Buffer.from('ranker'), Buffer.from([0x2a, 0x02, 0x7f, 0x00])]);

interface Answer {
  status: string;
  message: string;
}

/** One raw gRPC call (no deadline unless headers carry one); resolves with grpc-status and grpc-message. */
function rawCall(
  session: http2.ClientHttp2Session,
  body: Buffer,
  headers: http2.OutgoingHttpHeaders = {},
  framed = frame(body),
  path = INFER,
): { done: Promise<Answer>; stream: http2.ClientHttp2Stream } {
  const stream = session.request({ ':method': 'POST', ':path': path, 'content-type': 'application/grpc', te: 'trailers', ...headers });
  const done = new Promise<Answer>((resolve) => {
    let answer: Answer | undefined;
    const take = (h: http2.IncomingHttpHeaders) => {
      if (h['grpc-status'] !== undefined)
        answer = { status: String(h['grpc-status']), message: decodeURIComponent(String(h['grpc-message'] ?? '')) };
    };
    stream.on('response', take);
    stream.on('trailers', take);
    stream.on('data', () => undefined);
    stream.on('error', () => undefined);
    stream.on('close', () => resolve(answer ?? { status: 'none', message: `closed with ${stream.rstCode}` }));
  });
  stream.end(framed);
  return { done, stream };
}

describe('balancer front robustness', () => {
  let discovery: DiscoveryServer;
  let balancer: Balancer;
  let sidecar: SidecarProc;
  let session: http2.ClientHttp2Session;

  before(async () => {
    discovery = await startTestDiscovery({ leaseTtlMs: 1000 });
    sidecar = await sidecarProcess(discovery.grpcPort, ['--fault-delay-ms', '300']);
    balancer = await startBalancer({
      discovery: `127.0.0.1:${discovery.grpcPort}`,
      host: '127.0.0.1',
      grpcPort: 0,
      zone: 'a',
      log: silentLogger,
    });
    await waitFor(() => balancer.endpoints('ranker').length === 1, 'the sidecar in the balancer', 30_000);
    session = http2.connect(`http://127.0.0.1:${balancer.grpcPort}`);
    session.on('error', () => undefined);
  });

  after(async () => {
    session?.destroy();
    await balancer?.close();
    if (sidecar) await stop(sidecar.child, 3000);
    await discovery?.close();
  });

  test('a header gRPC metadata cannot carry is dropped; the call is answered and the balancer lives on', async () => {
    const table: http2.OutgoingHttpHeaders[] = [{ 'x-val': 'café' }, { 'x-odd!name': 'v' }, { 'x-tenant-id': 'ok' }];
    for (const headers of table) {
      const a = await rawCall(session, GOOD, headers).done;
      assert.equal(a.status, '0', `${JSON.stringify(headers)}: ${a.message}`);
    }
  });

  test('a request the sidecar cannot decode fails on its own; deadline-free calls beside it on the shared stream are answered', async () => {
    const calls = [GOOD, GOOD, UNDECODABLE, GOOD, GOOD].map((b) => rawCall(session, b).done);
    const answers = await Promise.race([
      Promise.all(calls),
      new Promise<never>((_, reject) => setTimeout(() => reject(new Error('a call hung')), 15_000)),
    ]);
    assert.deepEqual(
      answers.map((a) => a.status === '0'),
      [true, true, false, true, true],
      JSON.stringify(answers),
    );
    assert.notEqual(answers[2].status, 'none', 'the bad call ends with a gRPC status, not a reset');
    // And the stream machinery is healthy afterwards.
    const later = await Promise.all(Array.from({ length: 6 }, () => rawCall(session, GOOD).done));
    assert.ok(
      later.every((a) => a.status === '0'),
      JSON.stringify(later),
    );
  });

  test('a message with the compressed flag set gets INTERNAL without grpc-encoding, UNIMPLEMENTED for gzip, from the balancer and the sidecar alike', async () => {
    const compressed = frame(GOOD);
    compressed[0] = 1;
    const direct = http2.connect(`http://${sidecar.address}`);
    direct.on('error', () => undefined);
    try {
      const table = [
        { headers: {}, status: '13', says: /grpc-encoding is absent/ },
        { headers: { 'grpc-encoding': 'identity' }, status: '13', says: /grpc-encoding is identity/ },
        { headers: { 'grpc-encoding': 'gzip' }, status: '12', says: /grpc-encoding 'gzip' is not supported/ },
      ];
      for (const [target, s] of [
        ['balancer', session],
        ['sidecar', direct],
      ] as const) {
        for (const path of [INFER, STREAM]) {
          for (const row of table) {
            const a = await rawCall(s, GOOD, row.headers, compressed, path).done;
            const what = `${target} ${path} ${JSON.stringify(row.headers)}: ${JSON.stringify(a)}`;
            assert.equal(a.status, row.status, what);
            assert.match(a.message, row.says, what);
          }
        }
      }
    } finally {
      direct.destroy();
    }
  });

  test('calls the client cancels give back their in-flight slots', async () => {
    const calls = Array.from({ length: 5 }, () => rawCall(session, GOOD));
    await new Promise((r) => setTimeout(r, 100)); // the sidecar holds each for 300 ms
    for (const c of calls) c.stream.close(http2.constants.NGHTTP2_CANCEL);
    await Promise.all(calls.map((c) => c.done));
    const until = Date.now() + 3000;
    for (;;) {
      const inFlight = balancer.status().clusters.flatMap((c) => c.endpoints.map((e) => e.breakerInFlight));
      if (inFlight.every((n) => n === 0)) break;
      assert.ok(Date.now() < until, `in-flight slots still held: ${inFlight.join(', ')}`);
      await new Promise((r) => setTimeout(r, 50));
    }
  });
});
