// Counters and histograms for the per-call metrics, registered in a
// prom-client Registry but updated with plain arithmetic. prom-client's own
// labelled children re-validate and re-hash their labels on every inc() and
// observe(); at two observes and two incs per proxied call that was ~7 % of
// the balancer's busy time on the stream path (CPU profile, bench:cost,
// 2026-12-01). Here a child is a few numbers; labels are touched only when
// Prometheus scrapes. The scrape output (and prom-client's cluster
// aggregation, which reads get()) is the same shape prom-client produces.
import type { Registry } from 'prom-client';

type Labels = Record<string, string>;

interface MetricValue {
  readonly value: number;
  readonly labels: Labels;
  readonly metricName?: string;
}

/** What prom-client's Registry reads from a metric. */
interface MetricData {
  readonly name: string;
  readonly help: string;
  readonly type: 'counter' | 'histogram';
  readonly values: MetricValue[];
  readonly aggregator: 'sum';
}

function labelsOf(names: readonly string[], values: readonly string[]): Labels {
  const out: Labels = {};
  names.forEach((n, i) => (out[n] = values[i] ?? ''));
  return out;
}

/** One labelled counter. */
export class CounterChild {
  /** The count. */
  value = 0;

  /** Adds n (default 1). */
  inc(n = 1): void {
    this.value += n;
  }
}

/** A counter family whose children are plain numbers. */
export class FastCounter {
  readonly type = 'counter';
  readonly aggregator = 'sum';
  private readonly children = new Map<string, { labels: Labels; child: CounterChild }>();

  constructor(
    registry: Registry,
    readonly name: string,
    readonly help: string,
    private readonly labelNames: readonly string[],
  ) {
    registry.registerMetric(this as never);
  }

  /** The child for these label values (in labelNames order), created on first use. */
  child(...values: string[]): CounterChild {
    const key = values.join('\u0000');
    let e = this.children.get(key);
    if (!e) this.children.set(key, (e = { labels: labelsOf(this.labelNames, values), child: new CounterChild() }));
    return e.child;
  }

  /** The family as prom-client's Registry reads it. */
  async get(): Promise<MetricData> {
    const values = [...this.children.values()].map((e) => ({ value: e.child.value, labels: e.labels }));
    return { name: this.name, help: this.help, type: 'counter', values, aggregator: 'sum' };
  }

  /** Drops every child. */
  reset(): void {
    this.children.clear();
  }
}

/** One labelled histogram: a count per bucket (not cumulative), sum and count. */
export class HistogramChild {
  sum = 0;
  count = 0;
  /** counts[i]: observations in (bounds[i-1], bounds[i]]; the last slot is above every bound. */
  readonly counts: Float64Array;

  constructor(private readonly bounds: readonly number[]) {
    this.counts = new Float64Array(bounds.length + 1);
  }

  /** Records one observation. */
  observe(v: number): void {
    const b = this.bounds;
    let i = 0;
    while (i < b.length && v > b[i]) i++;
    this.counts[i]++;
    this.sum += v;
    this.count++;
  }
}

/** A histogram family whose children are plain arrays. */
export class FastHistogram {
  readonly type = 'histogram';
  readonly aggregator = 'sum';
  private readonly children = new Map<string, { labels: Labels; child: HistogramChild }>();

  constructor(
    registry: Registry,
    readonly name: string,
    readonly help: string,
    private readonly labelNames: readonly string[],
    private readonly bounds: readonly number[],
  ) {
    registry.registerMetric(this as never);
  }

  /** The child for these label values (in labelNames order), created on first use. */
  child(...values: string[]): HistogramChild {
    const key = values.join('\u0000');
    let e = this.children.get(key);
    if (!e) this.children.set(key, (e = { labels: labelsOf(this.labelNames, values), child: new HistogramChild(this.bounds) }));
    return e.child;
  }

  /** The family as prom-client's Registry reads it: cumulative _bucket series with le, then _sum and _count. */
  async get(): Promise<MetricData> {
    const values: MetricValue[] = [];
    for (const { labels, child } of this.children.values()) {
      let cumulative = 0;
      this.bounds.forEach((b, i) => {
        cumulative += child.counts[i];
        values.push({ value: cumulative, labels: { le: String(b), ...labels }, metricName: `${this.name}_bucket` });
      });
      values.push({ value: child.count, labels: { le: '+Inf', ...labels }, metricName: `${this.name}_bucket` });
      values.push({ value: child.sum, labels, metricName: `${this.name}_sum` });
      values.push({ value: child.count, labels, metricName: `${this.name}_count` });
    }
    return { name: this.name, help: this.help, type: 'histogram', values, aggregator: 'sum' };
  }

  /** Drops every child. */
  reset(): void {
    this.children.clear();
  }
}
