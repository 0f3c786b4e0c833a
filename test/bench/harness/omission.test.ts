// Coordinated omission: a server that stalls for S ms once, loaded open loop
// at rate R, delays every request due during the stall. The one due at the
// stall's start waits S, the next S - 1/R, and so on: ~S·R requests with
// latencies spread evenly from S down to 0. Measured from the scheduled send
// time, those requests are the tail, and each percentile in it is known from
// the schedule alone. A closed loop of the same server has only its few
// callers waiting during the stall, so its p99 never shows it.
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { runLoad } from '../../../bench/harness/load';
import { startTrivialGrpc, type TrivialServer } from '../../../bench/harness/trivial-server';
import type { LoadMode, TickStats } from '../../../bench/harness/types';

const STALL_MS = 500;
const RATE = 200;
const DURATION_MS = 3000;
const INTERVAL_MS = 1000 / RATE;
/** How much later than the schedule says the held calls may be answered on a loaded machine (timers, scheduling). */
const LATE_ANSWER_MS = 100;

/** Samples above percentile p of n by the nearest-rank rule (HDR's): k = n - ceil(p n). */
const above = (p: number, n: number) => n - Math.ceil((p / 100) * n);

/**
 * Percentile p of n samples when the largest are the stalled requests: the sample at rank has k larger ones, so it
 * was due k intervals after the first stalled request, and waited k intervals less. Absolute band: the stall
 * began anywhere within an interval of a due time, and its answers may come late. Relative band (to the max,
 * which removes both): answering the held calls one after another spreads them by a few ms at most.
 */
function expectedMs(p: number, n: number, max: number): { abs: [number, number]; rel: [number, number] } {
  const k = above(p, n);
  return {
    abs: [STALL_MS - (k + 1) * INTERVAL_MS - 2, STALL_MS - k * INTERVAL_MS + LATE_ANSWER_MS],
    rel: [max - k * INTERVAL_MS - 2, max - k * INTERVAL_MS + 15],
  };
}

describe('coordinated-omission correction against a server that stalls once', () => {
  let server: TrivialServer;
  before(async () => {
    server = await startTrivialGrpc();
  });
  after(() => server.close());

  /** Stalls the server once, at the end of the first measured second. */
  const stallOnce = () => {
    let done = false;
    return (t: TickStats) => {
      if (done || t.t !== 0) return;
      done = true;
      server.stall(STALL_MS);
    };
  };

  for (const mode of ['unary', 'stream'] as LoadMode[]) {
    it(`${mode}, open loop at ${RATE}/s: the ~${(STALL_MS * RATE) / 1000} delayed requests set p90, p99 and max as the schedule predicts`, async () => {
      const r = await runLoad({
        target: `127.0.0.1:${server.port}`,
        model: 'ranker',
        mode,
        rate: RATE,
        durationMs: DURATION_MS,
        warmupMs: 500,
        connections: 2,
        workers: 1,
        onTick: stallOnce(),
      });
      const n = r.ok;
      assert.equal(n, (DURATION_MS * RATE) / 1000, 'every measured request answered');
      const max = r.latencyMs.max;
      assert.ok(max >= STALL_MS - INTERVAL_MS - 2 && max <= STALL_MS + LATE_ANSWER_MS, `max ${max} ms`);
      const cases: Array<[string, number, number]> = [
        ['p90', 90, r.latencyMs.p90],
        ['p99', 99, r.latencyMs.p99],
        ['p99.9', 99.9, r.latencyMs.p999],
      ];
      for (const [name, p, got] of cases) {
        const { abs, rel } = expectedMs(p, n, max);
        assert.ok(got >= abs[0] && got <= abs[1], `${name} ${got} ms, expected ${abs[0]}-${abs[1]} ms from the schedule`);
        assert.ok(
          got >= rel[0] && got <= rel[1],
          `${name} ${got} ms, expected ${rel[0]}-${rel[1]} ms: ${above(p, n)} intervals below the max`,
        );
      }
      // Below the stalled share (100 of 600), latency is the server's own: small.
      assert.ok(r.latencyMs.p50 < 20, `p50 ${r.latencyMs.p50} ms`);
      // The stall is in the time series: the second it started in has a p99 near the stall.
      assert.ok(Math.max(...r.series.map((p) => p.p99Ms)) > STALL_MS - 2 * INTERVAL_MS - 2);
    });
  }

  it('a closed loop of the same server hides the stall: its p99 stays small while its max saw it', async () => {
    const r = await runLoad({
      target: `127.0.0.1:${server.port}`,
      model: 'ranker',
      mode: 'unary',
      concurrency: 2,
      durationMs: DURATION_MS,
      warmupMs: 500,
      connections: 2,
      workers: 1,
      onTick: stallOnce(),
    });
    assert.equal(r.loop, 'closed');
    assert.equal(r.offeredRate, null);
    assert.ok(r.latencyMs.max >= STALL_MS * 0.9, `max ${r.latencyMs.max} ms: the callers did wait out the stall`);
    assert.ok(r.latencyMs.p99 < 50, `closed-loop p99 ${r.latencyMs.p99} ms hides a ${STALL_MS} ms stall`);
  });
});
