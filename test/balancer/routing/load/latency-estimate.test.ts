import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { ClusterLatency, type CallOutcome } from '../../../../balancer/routing/load/latency-estimate';
import { DEFAULT_POLICY } from '../../../../routing-config/policy';

const cfg = DEFAULT_POLICY.p2c.latency; // initial 30, rise 0.5, fall 0.2, relax 250, failure ×4
const near = (got: number, want: number, what: string) => assert.ok(Math.abs(got - want) < 1e-6, `${what}: got ${got}, want ${want}`);

/** One step on one estimate: observe(ms, outcome) at t, then expect peek(); or read estimate(t). */
type Step = [op: 'observe', t: number, ms: number, outcome: CallOutcome, want: number] | [op: 'estimate', t: number, want: number];

const cases: Array<{ name: string; steps: Step[] }> = [
  { name: 'before any sample: the initial figure', steps: [['estimate', 0, 30]] },
  { name: 'the first sample replaces the seed, however far from it', steps: [['observe', 0, 3, 'ok', 3]] },
  {
    name: 'above the estimate weighs rise_weight, below weighs fall_weight',
    steps: [
      ['observe', 0, 10, 'ok', 10],
      ['observe', 0, 14, 'ok', 12],
      ['observe', 0, 2, 'ok', 12 - 0.2 * 10],
    ],
  },
  {
    name: 'one outlier moves an established estimate by at most 2x (a GC pause is not a slow sidecar)',
    steps: [
      ['observe', 0, 4, 'ok', 4],
      ['observe', 0, 400, 'ok', 4 + 0.5 * (8 - 4)],
    ],
  },
  {
    name: 'a sample after a long gap is taken almost whole, outlier or not',
    steps: [
      ['observe', 0, 4, 'ok', 4],
      ['observe', 2500, 200, 'ok', 4 + (1 - Math.exp(-10)) * 196],
    ],
  },
  {
    name: 'a failure counts as failure_factor × the estimate; the caller’s errors only raise it',
    steps: [
      ['observe', 0, 5, 'ok', 5],
      ['observe', 0, 1, 'failed', 5 + 0.5 * 15],
      ['observe', 0, 1, 'neutral', 12.5],
      ['observe', 0, 40, 'neutral', 12.5 + 0.5 * 12.5],
    ],
  },
];

describe('LatencyEstimate', () => {
  for (const c of cases) {
    it(c.name, () => {
      const e = new ClusterLatency(cfg.initial_ms, cfg.relax_ms).join(cfg, 0);
      c.steps.forEach((s, i) => {
        if (s[0] === 'observe') {
          e.observe(s[2], s[3], s[1]);
          near(e.peek(), s[4], `step ${i}`);
        } else near(e.estimate(s[1]), s[2], `step ${i}`);
      });
    });
  }

  it('without samples it relaxes toward the cluster median, slower once confirmed far out; reading changes nothing', () => {
    const cl = new ClusterLatency(cfg.initial_ms, cfg.relax_ms);
    const [a, b, slow] = [cl.join(cfg, 0), cl.join(cfg, 0), cl.join(cfg, 0)];
    a.observe(3, 'ok', 0);
    b.observe(3, 'ok', 0);
    // First answer 200 ms among 3 ms ones: counts as 4 × 3 = 12 (a cold sidecar's first answer can be that slow).
    slow.observe(200, 'ok', 100);
    near(slow.peek(), 12, 'the first answer, capped');
    near(slow.estimate(350), 3 + 9 * Math.exp(-1), 'one slow answer: relax_ms (250) unstretched');
    // A second slow answer confirms it: 12 + 0.5 × (min(200, 2 × 12) - 12) = 18, 6x the median,
    // so the relax time is 4 × 250 ms.
    slow.observe(200, 'ok', 100);
    near(slow.peek(), 18, 'the second answer, clipped at 2x');
    a.observe(3, 'ok', 1000);
    b.observe(3, 'ok', 1000);
    near(slow.estimate(1100), 3 + 15 * Math.exp(-1), 'after one stretched relax time');
    near(slow.estimate(1100), 3 + 15 * Math.exp(-1), 'a second read');
    near(slow.estimate(1100, 1), 18, 'a call awaiting its answer: no relaxation (one probe at a time)');
    // A slow answer after a long gap is taken whole: a probe that finds it still slow.
    slow.observe(200, 'ok', 3100);
    assert.ok(slow.peek() > 190, `a probe's answer after 3 s: ${slow.peek()}`);
  });

  it('a joiner starts at the lower median of its cluster; a stale figure does not vote; close() leaves', () => {
    const cl = new ClusterLatency(cfg.initial_ms, cfg.relax_ms);
    const [a, b, c] = [cl.join(cfg, 0), cl.join(cfg, 0), cl.join(cfg, 0)];
    a.observe(4, 'ok', 0);
    b.observe(6, 'ok', 0);
    c.observe(100, 'ok', 0);
    near(cl.join(cfg, 100).estimate(100), 6, 'median of 4, 6 and 100');
    near(cl.typical(100), 6, 'the same figure, cached');
    // b and c get no more samples; a keeps answering. After 4 relax times they no longer vote.
    for (let t = 100; t <= 1200; t += 100) a.observe(4, 'ok', t);
    near(cl.typical(1300), a.peek(), 'live members only');
    assert.ok(a.peek() < 6, `a's own figure, pulled toward 6 between samples: ${a.peek()}`);
    for (const m of [a, b, c]) m.close();
    near(cl.typical(1400), 30, 'nobody sampled left: the initial figure');
  });
});
