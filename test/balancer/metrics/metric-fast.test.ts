// The fast metric families must scrape exactly as prom-client's own would:
// the same observations through both give the same exposition text, and
// prom-client's cluster aggregation sums them the same way.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { AggregatorRegistry, Counter, Histogram, Registry } from 'prom-client';
import { FastCounter, FastHistogram } from '../../../balancer/metrics/metric-fast';

const BUCKETS = [0.001, 0.01, 0.1, 1];
const OBSERVATIONS: Array<[string, number]> = [
  ['a', 0.0005],
  ['a', 0.001],
  ['a', 0.05],
  ['b', 2],
  ['a', 0.5],
  ['b', 0.001],
];

function pair() {
  const ours = new Registry();
  const theirs = new Registry();
  const fh = new FastHistogram(ours, 'h_seconds', 'a histogram', ['endpoint'], BUCKETS);
  const ph = new Histogram({ name: 'h_seconds', help: 'a histogram', labelNames: ['endpoint'], buckets: BUCKETS, registers: [theirs] });
  const fc = new FastCounter(ours, 'c_total', 'a counter', ['endpoint', 'status']);
  const pc = new Counter({ name: 'c_total', help: 'a counter', labelNames: ['endpoint', 'status'], registers: [theirs] });
  for (const [ep, v] of OBSERVATIONS) {
    fh.child(ep).observe(v);
    ph.labels(ep).observe(v);
    fc.child(ep, v > 1 ? 'SLOW' : 'OK').inc();
    pc.labels(ep, v > 1 ? 'SLOW' : 'OK').inc();
  }
  return { ours, theirs };
}

test("fast counter and histogram scrape as prom-client's do, bucket by bucket", async () => {
  const { ours, theirs } = pair();
  assert.equal(await ours.metrics(), await theirs.metrics());
});

test('cluster aggregation of fast families equals that of prom-client families', async () => {
  const a = pair();
  const b = pair();
  const merged = async (x: Registry, y: Registry) =>
    AggregatorRegistry.aggregate([await x.getMetricsAsJSON(), await y.getMetricsAsJSON()]).metrics();
  assert.equal(await merged(a.ours, b.ours), await merged(a.theirs, b.theirs));
});
