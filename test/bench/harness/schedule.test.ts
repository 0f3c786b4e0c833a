import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { runLoad } from '../../../bench/harness/load';
import { indicesIn, openSchedule, Pacer, parseDuration, share } from '../../../bench/harness/schedule';
import { startTrivialGrpc, type TrivialServer } from '../../../bench/harness/trivial-server';

describe('open-loop schedule (pure)', () => {
  // [rate, warmupMs, durationMs, workers]
  const cases: Array<[number, number, number, number]> = [
    [200, 500, 2500, 1],
    [1000, 0, 2000, 2],
    [333, 1000, 3000, 3],
    [7, 0, 1000, 4],
    [50_000, 100, 200, 2],
  ];
  for (const [rate, warmupMs, durationMs, workers] of cases) {
    it(`${rate}/s, ${warmupMs} ms warm-up, ${durationMs} ms, ${workers} worker(s): the workers' indices partition the one schedule`, () => {
      const seen = new Map<number, number>();
      let measured = 0;
      for (let w = 0; w < workers; w++) {
        const s = openSchedule(rate, warmupMs, durationMs, w, workers);
        assert.equal(s.totalN - s.warmupN, Math.round((durationMs * rate) / 1000));
        for (let i = s.first; i < s.totalN; i += s.step) seen.set(i, (seen.get(i) ?? 0) + 1);
        measured += indicesIn(s, s.warmupN, s.totalN);
      }
      const s0 = openSchedule(rate, warmupMs, durationMs, 0, workers);
      assert.equal(seen.size, s0.totalN);
      assert.ok([...seen.values()].every((n) => n === 1));
      assert.equal(measured, s0.totalN - s0.warmupN);
    });
  }

  it('shares split counts with the remainder on the first workers', () => {
    assert.deepEqual(
      [0, 1, 2].map((w) => share(8, w, 3)),
      [3, 3, 2],
    );
    assert.deepEqual(
      [0, 1].map((w) => share(1, w, 2)),
      [1, 0],
    );
  });

  const durations: Array<[string, number | 'error']> = [
    ['30s', 30_000],
    ['500ms', 500],
    ['2m', 120_000],
    ['1.5s', 1500],
    ['1h', 3_600_000],
    ['0', 0],
    ['30', 'error'],
    ['s', 'error'],
    ['-1s', 'error'],
    ['5 min', 'error'],
  ];
  for (const [raw, want] of durations) {
    it(`parseDuration('${raw}')`, () => {
      if (want === 'error') assert.throws(() => parseDuration(raw), /not a duration/);
      else assert.equal(parseDuration(raw), want);
    });
  }

  it('the pacer sends every index once, in order, never before its due time', async () => {
    const s = openSchedule(2000, 0, 300, 0, 1);
    const t0 = performance.now() + 5;
    const got: number[] = [];
    let early = 0;
    await new Promise<void>((resolve) =>
      new Pacer(
        s,
        t0,
        (i, due) => {
          got.push(i);
          if (performance.now() < due || due !== t0 + i * s.intervalMs) early++;
        },
        () => resolve(),
      ).start(),
    );
    assert.deepEqual(
      got,
      Array.from({ length: 600 }, (_, i) => i),
    );
    assert.equal(early, 0);
  });
});

describe('open-loop schedule against a real server', () => {
  let server: TrivialServer;
  before(async () => {
    server = await startTrivialGrpc({ recordArrivals: true });
  });
  after(() => server.close());

  // [rate, warmupMs, durationMs, workers, mode]: modest rates; counts, not CPU speed, are asserted.
  const cases: Array<[number, number, number, number, 'unary' | 'stream']> = [
    [200, 500, 2500, 1, 'unary'],
    [1000, 500, 2000, 1, 'unary'],
    [1000, 500, 2000, 2, 'unary'],
    [1000, 500, 2000, 1, 'stream'],
  ];
  for (const [rate, warmupMs, durationMs, workers, mode] of cases) {
    it(`${mode} at ${rate} req/s with ${workers} worker(s): every scheduled request arrives, at the rate within 2 %`, async () => {
      const calls0 = server.calls;
      server.arrivals.length = 0;
      const r = await runLoad({
        target: `127.0.0.1:${server.port}`,
        model: 'ranker',
        mode,
        rate,
        durationMs,
        warmupMs,
        connections: 2,
        workers,
      });
      const warmN = Math.round((warmupMs * rate) / 1000);
      const n = Math.round((durationMs * rate) / 1000);
      assert.equal(server.calls - calls0, warmN + n, 'every warm-up and measured request reached the server');
      assert.equal(r.sent, n);
      assert.equal(r.ok, n);
      assert.equal(r.offeredRate, rate);
      assert.equal(r.loop, 'open');
      const a = [...server.arrivals].sort((x, y) => x - y);
      const seenRate = ((a.length - 1) / (a[a.length - 1] - a[0])) * 1000;
      assert.ok(Math.abs(seenRate / rate - 1) < 0.02, `arrivals at ${seenRate.toFixed(1)}/s, offered ${rate}/s`);
      // Measured window, by arrival: the requests after the warm-up's share.
      const measuredStart = a[warmN];
      const inWindow = a.filter((t) => t >= measuredStart && t < measuredStart + durationMs).length;
      assert.ok(Math.abs(inWindow / n - 1) < 0.02, `${inWindow} arrivals in the measured ${durationMs} ms, expected ${n}`);
      // Seconds bucket sends by when they went out, so a send delayed across a boundary moves: looser than the totals.
      for (const p of r.series.slice(0, Math.floor(durationMs / 1000))) {
        assert.ok(Math.abs(p.sent / rate - 1) < 0.05, `second ${p.t}: ${p.sent} sent`);
      }
      assert.equal(
        r.series.reduce((x, p) => x + p.sent, 0),
        n,
      );
      assert.equal(
        r.series.reduce((x, p) => x + p.ok, 0),
        n,
      );
    });
  }
});
