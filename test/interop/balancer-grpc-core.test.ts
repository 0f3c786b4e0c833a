// The balancer's front with a second gRPC implementation as the client:
// grpc C-core through Python's grpcio (what tritonclient.grpc runs on), so
// the JavaScript HTTP/2 server (http2/session.ts) is checked against an
// HPACK encoder, flow-control policy (BDP probes, PINGs) and stream handling
// that are not nghttp2's. Calls go as raw bytes (generic stubs), as a Triton
// client's generated stubs send them.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync, spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { silentLogger } from '../../common/log';
import { startBalancer, type Balancer } from '../../balancer/balancer';
import type { DiscoveryServer } from '../../discovery/server/server';
import { stop } from '../../testkit/processes';
import { encodeFp32Request } from '../../testkit/raw-client';
import { startTestDiscovery, waitFor } from '../helpers/discovery-fixture';
import { sidecarProcess, type SidecarProc } from '../helpers/e2e-fixture';

// Debian's python3-grpcio installs for the system interpreter, which a pyenv or venv python3 on PATH would not see.
const PYTHON = existsSync('/usr/bin/python3') ? '/usr/bin/python3' : 'python3';
const HAVE_GRPCIO = spawnSync(PYTHON, ['-c', 'import grpc'], { stdio: 'ignore' }).status === 0;

// One script, every case: prints one JSON object with what each case saw.
const SCRIPT = String.raw`
import grpc, json, sys
from concurrent.futures import ThreadPoolExecutor
target = sys.argv[1]
small, big = (bytes.fromhex(line) for line in sys.stdin.read().split())
ident = lambda b: b
ch = grpc.insecure_channel(target)
infer = ch.unary_unary('/inference.GRPCInferenceService/ModelInfer', request_serializer=ident, response_deserializer=ident)
stream = ch.stream_stream('/inference.GRPCInferenceService/ModelStreamInfer', request_serializer=ident, response_deserializer=ident)
ready = ch.unary_unary('/inference.GRPCInferenceService/ServerReady', request_serializer=ident, response_deserializer=ident)
md = (('tenant', 'a'), ('trace-bin', b'\x00\x01\xff'))
def model_of(resp):
    # ModelInferResponse field 1 (model_name) comes first: tag 0x0a, length, bytes.
    return resp[2:2 + resp[1]].decode() if resp[:1] == b'\x0a' else ''
out = {}
out['ready'] = ready(b'', timeout=10).hex()
out['sequential'] = [model_of(infer(small, timeout=10, metadata=md)) for _ in range(30)]
with ThreadPoolExecutor(16) as pool:
    out['concurrent'] = list(pool.map(lambda _: model_of(infer(small, timeout=10)), range(200)))
out['big'] = len(infer(big, timeout=30))
try:
    infer(small.replace(b'ranker', b'nomodl'), timeout=10)
    out['unknown'] = ['OK', '']
except grpc.RpcError as e:
    out['unknown'] = [e.code().name, e.details()]
try:
    infer(b'\xff\xff\xff', timeout=10)
    out['malformed'] = ['OK', '']
except grpc.RpcError as e:
    out['malformed'] = [e.code().name, e.details()]
answers = list(stream(iter([small] * 50), timeout=30))
# ModelStreamInferResponse: infer_response is field 2 (tag 0x12); error_message field 1 (tag 0x0a).
out['stream'] = [a[:1].hex() for a in answers]
ch.close()
print(json.dumps(out))
`;

interface Seen {
  ready: string;
  sequential: string[];
  concurrent: string[];
  big: number;
  unknown: [string, string];
  malformed: [string, string];
  stream: string[];
}

function runClient(port: number): Promise<Seen> {
  const small = encodeFp32Request('ranker', 'features', 1, 256);
  // 64 rows x 256 fp32 = 64 KiB of tensor: more than one HTTP/2 frame and C-core's first stream window.
  const big = encodeFp32Request('ranker', 'features', 64, 256);
  return new Promise((resolve, reject) => {
    const child = spawn(PYTHON, ['-c', SCRIPT, `127.0.0.1:${port}`], { stdio: ['pipe', 'pipe', 'pipe'] });
    child.stdin.end(`${small.toString('hex')}\n${big.toString('hex')}\n`);
    let out = '';
    let err = '';
    child.stdout.on('data', (d: Buffer) => (out += d.toString()));
    child.stderr.on('data', (d: Buffer) => (err += d.toString()));
    const kill = setTimeout(() => child.kill('SIGKILL'), 90_000);
    child.once('exit', (code) => {
      clearTimeout(kill);
      if (code !== 0) return reject(new Error(`python client exited ${code}: ${err.slice(-2000)}`));
      resolve(JSON.parse(out) as Seen);
    });
  });
}

describe(
  'balancer front with a grpc C-core client (python3-grpcio)',
  { skip: HAVE_GRPCIO ? false : 'python3-grpcio is not installed (.ci/run installs it)' },
  () => {
    let discovery: DiscoveryServer;
    let balancer: Balancer;
    let sidecar: SidecarProc;
    let seen: Seen;

    before(async () => {
      discovery = await startTestDiscovery({ leaseTtlMs: 1000 });
      sidecar = await sidecarProcess(discovery.grpcPort);
      balancer = await startBalancer({
        discovery: `127.0.0.1:${discovery.grpcPort}`,
        host: '127.0.0.1',
        grpcPort: 0,
        zone: 'a',
        log: silentLogger,
      });
      await waitFor(() => balancer.endpoints('ranker').length === 1, 'the sidecar in the balancer', 30_000);
      seen = await runClient(balancer.grpcPort);
    });

    after(async () => {
      await balancer?.close();
      if (sidecar) await stop(sidecar.child);
      await discovery?.close();
    });

    test('ServerReady, sequential calls with metadata, and 200 calls 16 at a time are all answered', () => {
      assert.equal(seen.ready, '0801');
      assert.deepEqual(seen.sequential, Array(30).fill('ranker'));
      assert.deepEqual(seen.concurrent, Array(200).fill('ranker'));
    });

    test('a request larger than a frame and the first window goes through', () => {
      assert.ok(seen.big > 64 * 4, `response of ${seen.big} bytes`);
    });

    test('errors carry precise statuses and messages that name the problem', () => {
      assert.equal(seen.unknown[0], 'NOT_FOUND');
      assert.match(seen.unknown[1], /unknown model 'nomodl'/);
      assert.equal(seen.malformed[0], 'INVALID_ARGUMENT');
      assert.match(seen.malformed[1], /malformed request/);
    });

    test('ModelStreamInfer: every message answered with an infer_response', () => {
      assert.deepEqual(seen.stream, Array(50).fill('12'));
    });
  },
);
