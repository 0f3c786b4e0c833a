// When is a heartbeat's load worth a store write? Every write fans out to
// every watcher (and in etcd mode is a raft round), so heartbeats that carry
// the same load as before only refresh the lease. Balancers get per-call
// load from the ORCA trailer; discovery's copy only needs to be roughly
// right and fresh within loadRefreshMs.
import type { LoadSummary } from '../types';

/** Relative change that counts as movement (20 %). */
const RELATIVE = 0.2;
/** Absolute floors, so 0 → 1 queued request is not "infinitely" more. */
const MIN_COUNT_DELTA = 2;
const MIN_LATENCY_DELTA_MS = 1;

function moved(a: number, b: number, floor: number): boolean {
  const d = Math.abs(a - b);
  return d >= floor && d >= RELATIVE * Math.max(Math.abs(a), Math.abs(b));
}

/**
 * True when `next` differs enough from the published `prev` to publish it,
 * or differs at all and the published copy is stale.
 */
export function loadMoved(prev: LoadSummary, next: LoadSummary, stale: boolean): boolean {
  const differs = prev.queueDepth !== next.queueDepth || prev.inFlight !== next.inFlight || prev.latencyMs !== next.latencyMs;
  if (!differs) return false;
  if (stale) return true;
  return (
    moved(prev.queueDepth, next.queueDepth, MIN_COUNT_DELTA) ||
    moved(prev.inFlight, next.inFlight, MIN_COUNT_DELTA) ||
    moved(prev.latencyMs, next.latencyMs, MIN_LATENCY_DELTA_MS)
  );
}
