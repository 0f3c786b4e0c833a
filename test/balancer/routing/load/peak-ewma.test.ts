import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { PeakEwma } from '../../../../balancer/routing/load/peak-ewma';

const E = Math.exp(-1);

/** One step: observe a sample at t, or read the estimate at t; then the expected estimate. */
type Step = [op: 'observe' | 'estimate', t: number, sample: number, want: number];

interface Case {
  name: string;
  /** Linkerd's defaults unless given: initial 30 ms, decay 10 s. */
  initial?: number;
  decay?: number;
  steps: Step[];
}

const cases: Case[] = [
  { name: 'no samples: the initial estimate', steps: [['estimate', 0, 0, 30]] },
  {
    name: 'a sample above the estimate replaces it at once',
    steps: [
      ['observe', 0, 100, 100],
      ['observe', 1, 250, 250],
    ],
  },
  {
    name: 'a sample below pulls it down by 1 - exp(-elapsed/decay)',
    steps: [
      ['observe', 0, 100, 100],
      ['observe', 10_000, 50, 100 * E + 50 * (1 - E)],
    ],
  },
  {
    name: 'a sample below at zero elapsed changes nothing',
    steps: [
      ['observe', 0, 100, 100],
      ['observe', 0, 10, 100],
    ],
  },
  {
    name: 'reading decays toward zero (Finagle get(): observe(0))',
    steps: [
      ['observe', 0, 100, 100],
      ['estimate', 10_000, 0, 100 * E],
      ['estimate', 20_000, 0, 100 * E * E],
    ],
  },
  {
    name: 'a read moves the update time: the next low sample weighs only the time since the read',
    steps: [
      ['observe', 0, 100, 100],
      ['estimate', 10_000, 0, 100 * E],
      ['observe', 10_000, 10, 100 * E],
    ],
  },
  {
    name: 'a long-idle slow endpoint decays to par and is tried again',
    steps: [
      ['observe', 0, 300, 300],
      ['estimate', 23_026, 0, 300 * Math.exp(-2.3026)],
    ],
  },
  {
    name: 'a completion stamped before the last update counts as zero elapsed',
    steps: [
      ['observe', 5000, 100, 100],
      ['observe', 4000, 10, 100],
    ],
  },
  {
    name: 'decay from config',
    decay: 1000,
    steps: [
      ['observe', 0, 100, 100],
      ['estimate', 1000, 0, 100 * E],
    ],
  },
  {
    name: 'initial from config',
    initial: 5,
    steps: [
      ['estimate', 0, 0, 5],
      ['observe', 0, 4, 5],
    ],
  },
];

describe('PeakEwma', () => {
  for (const c of cases) {
    it(c.name, () => {
      const e = new PeakEwma({ initial_rtt_ms: c.initial ?? 30, decay_ms: c.decay ?? 10_000 }, 0);
      c.steps.forEach(([op, t, sample, want], i) => {
        const got = op === 'observe' ? (e.observe(sample, 'ok', t), e.peek()) : e.estimate(t);
        assert.ok(Math.abs(got - want) < 1e-9, `step ${i} (${op} at ${t}): got ${got}, want ${want}`);
      });
    });
  }

  it('setDecay applies to later updates and keeps the estimate', () => {
    const e = new PeakEwma({ initial_rtt_ms: 30, decay_ms: 10_000 }, 0);
    e.observe(100, 'ok', 0);
    e.setDecay(1000);
    assert.equal(e.peek(), 100);
    assert.ok(Math.abs(e.estimate(1000) - 100 * E) < 1e-9);
  });
});
