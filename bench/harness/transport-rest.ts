// REST load (POST /v2/models/{m}/infer) through autocannon, run inside a
// load worker so its figures land in the same Recorder, histogram and
// LoadResult as gRPC's.
//
// autocannon is closed loop: each connection sends its next request when the
// last one answered. With a rate it caps each connection at its share of
// requests per second, sent back to back at the top of each second, so the
// schedule is neither even nor coordinated-omission corrected. REST phases
// are therefore always reported as closed loop (offeredRate then holds the
// cap), and their latency is autocannon's, from each actual send.
import autocannon from 'autocannon';
import type { Recorder } from './recorder';
import { share } from './schedule';
import type { WorkerConfig } from './worker-protocol';

/** What a REST run left behind. */
export interface RestOutcome {
  /** autocannon's own count of answers in the whole run (warm-up included), a cross-check. */
  readonly answered: number;
}

/** An error key for an autocannon request error. */
function errorKey(err: unknown): string {
  const msg = err instanceof Error ? err.message : String(err);
  return /timed out/i.test(msg) ? 'timeout' : 'transport';
}

/**
 * Runs this worker's REST share from t0 (this thread's performance.now() ms): warm-up then measurement,
 * recording calls whose send fell in the measured window.
 */
export function runRest(cfg: WorkerConfig, rec: Recorder, t0: number): Promise<RestOutcome> {
  const measureStart = t0 + cfg.warmupMs;
  const measureEnd = measureStart + cfg.durationMs;
  // Closed loop: one connection per caller (autocannon's callers are its connections); with a rate cap, --connections.
  const connections = cfg.concurrency ?? cfg.connections;
  const rate = cfg.rate === undefined ? undefined : share(Math.round(cfg.rate), cfg.worker, cfg.workers);
  if (connections === 0 || rate === 0) {
    // This worker's share rounded to nothing: it idles through the phase (autocannon would read 0 as "no limit").
    return new Promise((resolve) => setTimeout(() => resolve({ answered: 0 }), Math.max(0, measureEnd - performance.now())));
  }
  return new Promise((resolve, reject) => {
    const begin = (): void => {
      const instance = autocannon(
        {
          url: `http://${cfg.target}${cfg.restPath}`,
          method: 'POST',
          headers: { 'content-type': 'application/json' },
          body: Buffer.from(cfg.payload),
          connections,
          pipelining: 1,
          duration: (cfg.warmupMs + cfg.durationMs) / 1000,
          // autocannon takes whole seconds; it stops waiting for an answer after this.
          timeout: Math.max(1, Math.ceil(cfg.drainMs / 1000)),
          ...(rate ? { overallRate: rate } : {}),
        },
        (err, result) => {
          if (err) reject(err instanceof Error ? err : new Error(String(err)));
          else resolve({ answered: result.requests.total });
        },
      );
      instance.on('response', (_client: unknown, statusCode: number, _bytes: number, responseTime: number) => {
        const now = performance.now();
        const sentAt = now - responseTime;
        if (sentAt < measureStart || sentAt >= measureEnd) return;
        rec.onSend(sentAt, 0);
        if (statusCode >= 200 && statusCode < 300) rec.onOk(now, responseTime);
        else rec.onError(now, `http_${statusCode}`);
      });
      instance.on('reqError', (err: unknown) => {
        const now = performance.now();
        if (now < measureStart) return;
        rec.onSend(now, 0);
        rec.onError(now, errorKey(err));
      });
    };
    setTimeout(begin, Math.max(0, t0 - performance.now()));
  });
}
