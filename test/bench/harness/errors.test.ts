// Errors are counted by what the server said: the gRPC status of unary calls
// (trailers-only, or in the trailers after a response), the status prefix of
// stream error messages, the HTTP code of REST answers, and 'transport' when
// nothing answered at all. The trivial servers count what they failed, so the
// harness's counts must match exactly (no warm-up: every call is measured).
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { runLoad } from '../../../bench/harness/load';
import { startTrivialGrpc, startTrivialRest, type TrivialOptions } from '../../../bench/harness/trivial-server';
import type { LoadMode, LoadOptions } from '../../../bench/harness/types';

const base = { model: 'ranker', durationMs: 1000, warmupMs: 0, connections: 2, workers: 1, drainMs: 2000 } as const;

describe('errors by status', () => {
  // [name, server options, mode, load, error key]
  const cases: Array<[string, TrivialOptions, LoadMode, Partial<LoadOptions>, string]> = [
    ['unary, trailers-only UNAVAILABLE', { failEvery: 4 }, 'unary', { rate: 400 }, 'UNAVAILABLE'],
    [
      'unary, RESOURCE_EXHAUSTED in the trailers after a response',
      { failEvery: 5, failCode: 8, failIn: 'trailers' },
      'unary',
      { rate: 400 },
      'RESOURCE_EXHAUSTED',
    ],
    ['unary, two workers', { failEvery: 3, failCode: 13 }, 'unary', { rate: 600, workers: 2 }, 'INTERNAL'],
    ['stream, error_message [UNAVAILABLE]', { failEvery: 4 }, 'stream', { rate: 400 }, 'UNAVAILABLE'],
    ['unary, closed loop', { failEvery: 10 }, 'unary', { concurrency: 4 }, 'UNAVAILABLE'],
    ['rest, HTTP 503', { failEvery: 4 }, 'rest', { concurrency: 2 }, 'http_503'],
  ];
  for (const [name, serverOpts, mode, load, key] of cases) {
    it(name, async () => {
      const server = mode === 'rest' ? await startTrivialRest(serverOpts) : await startTrivialGrpc(serverOpts);
      try {
        const r = await runLoad({ ...base, target: `127.0.0.1:${server.port}`, mode, ...load } as LoadOptions);
        assert.ok(server.failed > 0);
        assert.deepEqual(Object.keys(r.errors), [key]);
        if (mode === 'rest') {
          // autocannon keeps its own clock: calls just outside the measured window reach the server but not the
          // result, so compare shares. Every 4th call fails; in-flight calls at either edge shift it by a few.
          assert.ok(
            Math.abs(r.errors[key] - r.sent / serverOpts.failEvery!) <= 2 * (load.concurrency ?? 1) + 1,
            `${r.errors[key]} of ${r.sent}`,
          );
          assert.equal(r.ok + r.errors[key], r.sent);
          return;
        }
        assert.deepEqual(r.errors, { [key]: server.failed });
        assert.equal(r.ok + server.failed, r.sent);
        if (load.rate) {
          assert.equal(r.sent, server.calls, 'open loop, no warm-up: everything sent was measured');
          assert.equal(r.sent, load.rate);
        }
        assert.ok(Math.abs(r.errorRate - server.failed / r.sent) < 1e-9);
        assert.equal(
          r.series.reduce((a, p) => a + p.errors, 0),
          server.failed,
        );
      } finally {
        await server.close();
      }
    });
  }

  for (const mode of ['unary', 'stream'] as LoadMode[]) {
    it(`${mode}: nothing listening counts every call as 'transport', and none as answered`, async () => {
      const s = await startTrivialGrpc();
      const port = s.port;
      await s.close();
      const r = await runLoad({ ...base, target: `127.0.0.1:${port}`, mode, rate: 100 });
      assert.equal(r.sent, 100);
      assert.deepEqual(r.errors, { transport: 100 });
      assert.equal(r.ok, 0);
      assert.equal(r.achievedRate, 0);
      assert.equal(r.errorRate, 1);
    });
  }

  it('rest with a rate is autocannon capped at that rate: reported as a closed loop with the cap as offered rate', async () => {
    const server = await startTrivialRest();
    try {
      const r = await runLoad({ ...base, target: `127.0.0.1:${server.port}`, mode: 'rest', rate: 100, durationMs: 2000 });
      assert.equal(r.loop, 'closed');
      assert.equal(r.offeredRate, 100);
      assert.equal(r.concurrency, base.connections);
      assert.deepEqual(r.errors, {});
      assert.ok(r.achievedRate > 50 && r.achievedRate <= 105, `achieved ${r.achievedRate}/s under a 100/s cap`);
    } finally {
      await server.close();
    }
  });

  it("calls still out after the drain count as 'unfinished'", async () => {
    const server = await startTrivialGrpc();
    try {
      server.stall(60_000); // held for the whole run
      const r = await runLoad({ ...base, target: `127.0.0.1:${server.port}`, mode: 'unary', rate: 100, drainMs: 300 });
      assert.deepEqual(r.errors, { unfinished: 100 });
      assert.equal(r.achievedRate, 0);
    } finally {
      await server.close();
    }
  });
});
