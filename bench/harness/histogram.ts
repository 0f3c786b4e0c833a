// Latency histograms for the harness: one HDR histogram per worker thread
// (and one per worker per second), shipped to the parent as hdr-histogram-js'
// compressed base64 encoding and added there. HDR addition is exact: the
// merged counts equal those of one histogram fed every sample, so merged
// percentiles are the same figures a single recorder would give.
import * as hdr from 'hdr-histogram-js';
import type { LatencyMs } from './types';

/** Values are µs; anything above this (120 s) is clamped to it rather than thrown. */
export const MAX_LATENCY_US = 120_000_000;

/** Every harness histogram has this shape, so any two can be added exactly. */
const SHAPE: hdr.BuildRequest = {
  lowestDiscernibleValue: 1,
  highestTrackableValue: MAX_LATENCY_US,
  numberOfSignificantValueDigits: 3,
  bitBucketSize: 32,
  autoResize: false,
  useWebAssembly: false,
};

/** Percentiles the report's curve is drawn through (HDR-style: dense towards the tail). */
export const CURVE_PERCENTILES = [0, 10, 25, 50, 75, 90, 95, 97.5, 99, 99.5, 99.9, 99.95, 99.99, 99.999, 100] as const;

/** An empty latency histogram (µs, 1 µs to 120 s, 3 significant digits). */
export function newHistogram(): hdr.Histogram {
  return hdr.build(SHAPE);
}

/** Records a latency given in ms (rounded to whole µs, at least 1). */
export function recordMs(h: hdr.Histogram, ms: number): void {
  const us = Math.round(ms * 1000);
  h.recordValue(us < 1 ? 1 : us > MAX_LATENCY_US ? MAX_LATENCY_US : us);
}

/** The compressed base64 form a worker posts to the parent. */
export function encodeHistogram(h: hdr.Histogram): string {
  return hdr.encodeIntoCompressedBase64(h);
}

/** A histogram from its encoding (same shape as newHistogram()). */
export function decodeHistogram(encoded: string): hdr.Histogram {
  return hdr.decodeFromCompressedBase64(encoded, 32, false);
}

/** Adds an encoded histogram into `into` (exact: counts add bucket by bucket). */
export function addEncoded(into: hdr.Histogram, encoded: string): void {
  into.add(decodeHistogram(encoded));
}

/** ms value at a percentile; 0 for an empty histogram. */
export function atPercentileMs(h: hdr.Histogram, p: number): number {
  return h.totalCount === 0 ? 0 : h.getValueAtPercentile(p) / 1000;
}

/** The report's percentiles of a histogram, ms (all 0 when empty). */
export function latencyMs(h: hdr.Histogram): LatencyMs {
  return {
    p50: atPercentileMs(h, 50),
    p90: atPercentileMs(h, 90),
    p99: atPercentileMs(h, 99),
    p999: atPercentileMs(h, 99.9),
    // From the buckets, not the recorded maximum: a decoded (merged) histogram knows only buckets, and both must agree.
    max: atPercentileMs(h, 100),
    mean: h.totalCount === 0 ? 0 : h.mean / 1000,
  };
}

/** [percentile, ms] pairs through CURVE_PERCENTILES; empty for an empty histogram. */
export function percentileCurve(h: hdr.Histogram): Array<[number, number]> {
  if (h.totalCount === 0) return [];
  return CURVE_PERCENTILES.map((p) => [p, atPercentileMs(h, p)]);
}
