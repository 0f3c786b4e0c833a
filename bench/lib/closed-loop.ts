// Closed-loop load: C callers, each sending its next request when the last
// answered. Good for throughput at a given concurrency; it hides stalls
// (coordinated omission), so latency figures from it are labelled closed-loop.
// The open-loop harness is bench/ (issue 5).
import * as hdr from 'hdr-histogram-js';
import type { ClientDuplexStream } from '@grpc/grpc-js';
import { isStreamError, type RawClient } from '../../testkit/raw-client';

/** What one run measured. */
export interface LoopResult {
  readonly requests: number;
  readonly errors: number;
  readonly seconds: number;
  readonly p50Ms: number;
  readonly p99Ms: number;
  readonly maxMs: number;
}

/** Runs `concurrency` closed loops for `seconds` over the clients; unary or one stream per loop. */
export function closedLoop(
  clients: RawClient[],
  req: Buffer,
  mode: 'unary' | 'stream',
  concurrency: number,
  seconds: number,
): Promise<LoopResult> {
  const h = hdr.build({ lowestDiscernibleValue: 1, highestTrackableValue: 60_000_000, numberOfSignificantValueDigits: 3 });
  let requests = 0;
  let errors = 0;
  const start = performance.now();
  const end = start + seconds * 1000;
  return new Promise((resolve) => {
    let live = concurrency;
    const finish = () => {
      if (--live > 0) return;
      const secs = (performance.now() - start) / 1000;
      resolve({
        requests,
        errors,
        seconds: secs,
        p50Ms: h.getValueAtPercentile(50) / 1000,
        p99Ms: h.getValueAtPercentile(99) / 1000,
        maxMs: h.maxValue / 1000,
      });
    };
    for (let i = 0; i < concurrency; i++) {
      const client = clients[i % clients.length];
      if (mode === 'unary') {
        const one = () => {
          const t0 = performance.now();
          client.infer(req, (err) => {
            h.recordValue(Math.max(1, Math.round((performance.now() - t0) * 1000)));
            requests++;
            if (err) errors++;
            if (performance.now() < end) one();
            else finish();
          });
        };
        one();
      } else {
        const s: ClientDuplexStream<Buffer, Buffer> = client.stream();
        let t0 = performance.now();
        let closed = false;
        const close = () => {
          if (closed) return;
          closed = true;
          finish();
        };
        s.on('data', (resp: Buffer) => {
          h.recordValue(Math.max(1, Math.round((performance.now() - t0) * 1000)));
          requests++;
          if (isStreamError(resp)) errors++;
          if (performance.now() < end) {
            t0 = performance.now();
            s.write(req);
          } else s.end();
        });
        s.on('error', () => {
          errors++;
          close();
        });
        s.on('end', close);
        s.write(req);
      }
    }
  });
}
