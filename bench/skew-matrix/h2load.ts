// h2load as the matrix's load generator: C, cheap on a 2-core box, in its
// open-loop rate mode (--rps per client) with a per-request log. Each of
// `clients` connections sends rate/clients requests per second whether or
// not answers come back, up to `maxStreams` in flight per connection (and
// the proxy's own SETTINGS limit: HAProxy 100, nginx 128 streams); past
// that h2load queues what it owes and sends it late, so the log's start
// times, and the latency, would be the sent ones. `sent` per window in the
// results shows whether that happened. The body is one ranker row as a
// gRPC length-prefixed message, as bench/balancer-cost.ts builds it.
import { spawn } from 'node:child_process';
import { readFileSync, rmSync, writeFileSync } from 'node:fs';
import * as path from 'node:path';
import { METHODS, encodeFp32Request } from '../../testkit/raw-client';
import { tempDir } from '../lib/peers';
import { parseH2loadLog, type Sample } from './analysis';

export interface H2loadRun {
  readonly samples: Sample[];
  /** Requests h2load was asked for (rate x seconds). */
  readonly requested: number;
  /** Requests per second per client actually passed (--rps). */
  readonly rpsPerClient: number;
  /** h2load's own wall time, s. */
  readonly wallS: number;
  /** h2load's summary counts (HTTP level): succeeded, failed, errored, timeout. */
  readonly summary: string;
}

export interface H2loadOptions {
  readonly port: number;
  readonly rate: number;
  readonly seconds: number;
  readonly clients: number;
  readonly maxStreams: number;
  /** Called once h2load is spawned (the run's clock for mid-run events starts here). */
  readonly onStart?: () => void;
}

let workDir: string | undefined;
let body: string | undefined;

/** The request body file, written once per process. */
function bodyFile(): string {
  if (body) return body;
  workDir ??= tempDir('skew-matrix');
  body = path.join(workDir, 'body.bin');
  const req = encodeFp32Request('ranker', 'features', 1, 256);
  const prefix = Buffer.alloc(5);
  prefix.writeUInt32BE(req.length, 1);
  writeFileSync(body, Buffer.concat([prefix, req]));
  return body;
}

/**
 * Runs h2load for rate x seconds requests (-n: it ends once all are answered, so the slow tail of the
 * last second is logged too, not cut off as a timed run would). Killed 60 s past its planned end.
 */
export function runH2load(o: H2loadOptions): Promise<H2loadRun> {
  const file = bodyFile();
  const log = path.join(workDir!, 'requests.log');
  // h2load appends to its log file.
  rmSync(log, { force: true });
  const requested = Math.max(o.clients, Math.round(o.rate * o.seconds));
  const rpsPerClient = o.rate / o.clients;
  const args = [
    ...['-n', String(requested), '-c', String(o.clients), '-m', String(o.maxStreams), '--rps', String(rpsPerClient)],
    ...['--log-file', log, '-H', 'content-type: application/grpc', '-H', 'te: trailers', '-d', file],
    `http://127.0.0.1:${o.port}${METHODS.infer}`,
  ];
  return new Promise((resolve, reject) => {
    const child = spawn('h2load', args, { stdio: ['ignore', 'pipe', 'pipe'] });
    o.onStart?.();
    let out = '';
    child.stdout.on('data', (d: Buffer) => (out += d.toString()));
    child.stderr.on('data', (d: Buffer) => (out += d.toString()));
    const kill = setTimeout(() => child.kill('SIGKILL'), (o.seconds + 60) * 1000);
    child.once('error', (e) => reject(new Error(`h2load: ${e.message} (Debian package nghttp2-client)`)));
    child.once('exit', (code, signal) => {
      clearTimeout(kill);
      let text = '';
      try {
        text = readFileSync(log, 'utf8');
      } catch {
        // no log: nothing was answered
      }
      const fin = /finished in ([\d.]+)(ms|s),/.exec(out);
      const req = /requests: .*/.exec(out);
      if (code !== 0 && text === '') return reject(new Error(`h2load exited ${code ?? signal}: ${out.slice(-500)}`));
      resolve({
        samples: parseH2loadLog(text),
        requested,
        rpsPerClient,
        wallS: fin ? Number(fin[1]) / (fin[2] === 'ms' ? 1000 : 1) : NaN,
        summary: req ? req[0] : `h2load exited ${code ?? signal}`,
      });
    });
  });
}
