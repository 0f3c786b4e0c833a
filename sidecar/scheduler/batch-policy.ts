// When to send a batch and what goes in it: a pure function of the queue, the
// time and the model's batching settings, so every rule is tested with a table
// and no onnxruntime. Semantics follow Triton's dynamic batcher:
//  - the batch starts at the head (highest priority, oldest) and takes, in
//    priority-then-FIFO order, only requests with the head's shapeKey whose
//    rows still fit under max_batch_size (a request never splits);
//  - full (rows = max_batch_size) → send at once;
//  - a preferred size formed exactly by a prefix of that list → send the
//    largest such prefix at once;
//  - otherwise wait until the oldest candidate has waited
//    max_queue_delay_microseconds, then send what is there (delay 0 = now);
//  - no batching (max_batch_size 0 or no dynamic_batching) → one at a time.
import type { ModelConfig } from '../repository/config-types';
import type { QueueEntry, QueueView } from './batch-queue';

/** Batching settings in the form decide() reads; built once per model by policyConfig(). */
export interface PolicyConfig {
  /** False: every request runs alone. */
  readonly batching: boolean;
  /** Most rows in one batch. */
  readonly maxBatchSize: number;
  /** preferred[n] === 1 when n rows is a preferred batch size; null when none are set. */
  readonly preferred: Uint8Array | null;
  /** max_queue_delay in ms. */
  readonly maxDelayMs: number;
  /**
   * Most queued requests looked at per decision. Bounds the cost of a queue
   * full of other shapes: without it one rare shape at the head scans the
   * whole queue on every arrival.
   */
  readonly scanLimit: number;
}

/** What to do now. */
export type Decision =
  | {
      readonly kind: 'send';
      /** Queue entries to take, in priority-then-FIFO order; the head is first. */
      readonly entries: QueueEntry[];
      /** Total rows (sum of batchSize). */
      readonly rows: number;
    }
  | {
      readonly kind: 'wait';
      /** Time until the batch must go (ms, > 0); decide again then or on the next arrival. */
      readonly ms: number;
    }
  | { readonly kind: 'idle' };

const IDLE: Decision = Object.freeze({ kind: 'idle' });

/** Derives the policy settings from a model config. */
export function policyConfig(cfg: ModelConfig, scanLimit = 1024): PolicyConfig {
  const db = cfg.dynamic_batching;
  const max = cfg.max_batch_size;
  if (!db || max <= 0) return { batching: false, maxBatchSize: 1, preferred: null, maxDelayMs: 0, scanLimit: 1 };
  let preferred: Uint8Array | null = null;
  for (const n of db.preferred_batch_size) {
    // Sizes above max_batch_size can never be formed; ignore them rather than fail.
    if (n >= 1 && n <= max) (preferred ??= new Uint8Array(max + 1))[n] = 1;
  }
  return {
    batching: true,
    maxBatchSize: max,
    preferred,
    maxDelayMs: Math.max(0, db.max_queue_delay_microseconds) / 1000,
    scanLimit: Math.max(scanLimit, max),
  };
}

/** The same settings with no queue delay: used while draining, when no more requests will come. */
export function withoutDelay(p: PolicyConfig): PolicyConfig {
  return { ...p, maxDelayMs: 0 };
}

/** Decides whether to send a batch now (and which requests), wait, or idle. Pure. */
export function decide(q: QueueView, now: number, p: PolicyConfig): Decision {
  const head = q.first();
  if (!head) return IDLE;
  let rows = head.req.batchSize;
  if (!p.batching) return { kind: 'send', entries: [head], rows };

  const max = p.maxBatchSize;
  const pref = p.preferred;
  const key = head.req.shapeKey;
  const entries = [head];
  let oldest = head.req.arrivedAt;
  // Length of the longest prefix of entries whose rows are a preferred size.
  let prefLen = pref !== null && rows <= max && pref[rows] === 1 ? 1 : 0;
  let prefRows = prefLen > 0 ? rows : 0;
  let scanned = 1;
  for (let e = q.next(head); e !== undefined && rows < max && scanned < p.scanLimit; e = q.next(e)) {
    scanned++;
    const r = e.req;
    if (r.shapeKey !== key || rows + r.batchSize > max) continue;
    entries.push(e);
    rows += r.batchSize;
    if (r.arrivedAt < oldest) oldest = r.arrivedAt;
    if (pref !== null && pref[rows] === 1) {
      prefLen = entries.length;
      prefRows = rows;
    }
  }

  if (rows >= max) return { kind: 'send', entries, rows };
  const waited = now - oldest;
  if (waited >= p.maxDelayMs) return { kind: 'send', entries, rows };
  if (prefLen > 0) {
    entries.length = prefLen;
    return { kind: 'send', entries, rows: prefRows };
  }
  return { kind: 'wait', ms: p.maxDelayMs - waited };
}
