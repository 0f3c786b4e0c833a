// The dynamic batcher's queue: one FIFO per priority level (1 = highest), a
// bound across levels, and a deadline heap so the loop needs one timer for the
// earliest deadline. Every operation on the hot path is O(1) or O(log n): the
// FIFOs are ring buffers (Array.shift is O(n) on long queues), and a request
// taken from the middle (a batch skipping another shape, an expired request)
// leaves a hole that the head steps over later instead of moving the tail.
import type { QueuedRequest } from './types';

/** A queued request with its place in the queue. Created by BatchQueue.push only. */
export class QueueEntry {
  /** Slot index in its level's ring; -1 once removed. Internal to the queue. */
  pos = -1;
  /** Index in the deadline heap; -1 when not in it. Internal to the queue. */
  heapIdx = -1;

  constructor(
    /** The request. */
    readonly req: QueuedRequest,
    /** Arrival order across all levels, from 0; used to preserve ordering. */
    readonly seq: number,
    /** Level index (0 = priority 1). */
    readonly level: number,
  ) {}

  /** Whether the entry is still queued. */
  get queued(): boolean {
    return this.pos >= 0;
  }
}

/** What the batch policy reads: requests in priority order, then FIFO. */
export interface QueueView {
  /** Requests queued. */
  readonly size: number;
  /** The head: the oldest request of the highest non-empty level. */
  first(): QueueEntry | undefined;
  /** The request after e in priority-then-FIFO order. Precondition: e is queued. */
  next(e: QueueEntry): QueueEntry | undefined;
}

const EMPTY: readonly QueueEntry[] = Object.freeze([]);

/** A growable ring of entries with holes; positions are slot indices, fixed up on growth. */
class Ring {
  private buf: (QueueEntry | undefined)[] = new Array(16);
  private mask = 15;
  private head = 0;
  /** Slots from head to tail, holes included. */
  private span = 0;
  /** Live entries. */
  live = 0;

  push(e: QueueEntry): void {
    if (this.span === this.buf.length) this.grow();
    const i = (this.head + this.span) & this.mask;
    this.buf[i] = e;
    e.pos = i;
    this.span++;
    this.live++;
  }

  remove(e: QueueEntry): void {
    this.buf[e.pos] = undefined;
    const wasHead = e.pos === this.head;
    e.pos = -1;
    this.live--;
    if (this.live === 0) {
      this.span = 0;
      return;
    }
    // Step the head over holes so first() stays O(1); each hole is stepped over once.
    if (wasHead) {
      while (this.buf[this.head] === undefined) {
        this.head = (this.head + 1) & this.mask;
        this.span--;
      }
    }
  }

  first(): QueueEntry | undefined {
    return this.live > 0 ? this.buf[this.head] : undefined;
  }

  /** The live entry after e in this ring. */
  after(e: QueueEntry): QueueEntry | undefined {
    for (let k = ((e.pos - this.head) & this.mask) + 1; k < this.span; k++) {
      const x = this.buf[(this.head + k) & this.mask];
      if (x) return x;
    }
    return undefined;
  }

  private grow(): void {
    // Compacts while copying: holes are dropped and positions renumbered from 0.
    const nb: (QueueEntry | undefined)[] = new Array(this.buf.length * 2);
    let n = 0;
    for (let k = 0; k < this.span; k++) {
      const x = this.buf[(this.head + k) & this.mask];
      if (x) {
        x.pos = n;
        nb[n++] = x;
      }
    }
    this.buf = nb;
    this.mask = nb.length - 1;
    this.head = 0;
    this.span = n;
  }
}

/** Priority FIFOs with a size bound and deadline tracking. Not thread-safe; one batcher owns it. */
export class BatchQueue implements QueueView {
  private readonly rings: Ring[] = [];
  /** Min-heap on req.deadline of entries with a finite deadline. */
  private readonly heap: QueueEntry[] = [];
  private count = 0;
  private seq = 0;

  /**
   * @param levels priority levels (0 or 1 = one level)
   * @param maxSize bound across all levels; 0 = unbounded
   */
  constructor(
    levels: number,
    private readonly maxSize: number,
  ) {
    for (let i = 0; i < Math.max(1, levels); i++) this.rings.push(new Ring());
  }

  /** Requests queued. */
  get size(): number {
    return this.count;
  }

  /** Queues req at its priority level; false when the queue is full (the caller rejects at once). */
  push(req: QueuedRequest): boolean {
    if (this.maxSize > 0 && this.count >= this.maxSize) return false;
    // Priorities are range-checked by the decoder; clamp anyway so a bad one cannot throw here.
    const p = req.priority | 0;
    const level = p < 1 ? 0 : p > this.rings.length ? this.rings.length - 1 : p - 1;
    const e = new QueueEntry(req, this.seq++, level);
    this.rings[level].push(e);
    this.count++;
    if (req.deadline < Infinity) this.heapPush(e);
    return true;
  }

  /** The head: the oldest request of the highest non-empty level. */
  first(): QueueEntry | undefined {
    for (const r of this.rings) if (r.live > 0) return r.first();
    return undefined;
  }

  /** The request after e in priority-then-FIFO order. Precondition: e is queued. */
  next(e: QueueEntry): QueueEntry | undefined {
    const x = this.rings[e.level].after(e);
    if (x) return x;
    for (let l = e.level + 1; l < this.rings.length; l++) if (this.rings[l].live > 0) return this.rings[l].first();
    return undefined;
  }

  /** Removes one queued entry (no-op if it already left). */
  remove(e: QueueEntry): void {
    if (e.pos < 0) return;
    this.rings[e.level].remove(e);
    this.count--;
    if (e.heapIdx >= 0) this.heapRemove(e.heapIdx);
  }

  /** Removes every entry in es (a batch the policy chose). */
  take(es: readonly QueueEntry[]): void {
    for (const e of es) this.remove(e);
  }

  /** Removes and returns entries whose deadline is at or before now, earliest first. */
  removeExpired(now: number): readonly QueueEntry[] {
    if (this.heap.length === 0 || this.heap[0].req.deadline > now) return EMPTY;
    const out: QueueEntry[] = [];
    while (this.heap.length > 0 && this.heap[0].req.deadline <= now) {
      const e = this.heap[0];
      out.push(e);
      this.remove(e);
    }
    return out;
  }

  /** Removes and returns every entry, in priority-then-FIFO order. */
  removeAll(): QueueEntry[] {
    const out: QueueEntry[] = [];
    for (let e = this.first(); e; e = this.first()) {
      out.push(e);
      this.remove(e);
    }
    return out;
  }

  /** The earliest finite deadline queued, or Infinity. */
  earliestDeadline(): number {
    return this.heap.length > 0 ? this.heap[0].req.deadline : Infinity;
  }

  private heapPush(e: QueueEntry): void {
    e.heapIdx = this.heap.length;
    this.heap.push(e);
    this.siftUp(e.heapIdx);
  }

  private heapRemove(i: number): void {
    const h = this.heap;
    const gone = h[i];
    gone.heapIdx = -1;
    const last = h.pop()!;
    if (i === h.length) return;
    h[i] = last;
    last.heapIdx = i;
    this.siftUp(i);
    this.siftDown(last.heapIdx);
  }

  private siftUp(i: number): void {
    const h = this.heap;
    const e = h[i];
    while (i > 0) {
      const p = (i - 1) >> 1;
      if (h[p].req.deadline <= e.req.deadline) break;
      h[i] = h[p];
      h[i].heapIdx = i;
      i = p;
    }
    h[i] = e;
    e.heapIdx = i;
  }

  private siftDown(i: number): void {
    const h = this.heap;
    const e = h[i];
    const n = h.length;
    for (;;) {
      const l = 2 * i + 1;
      if (l >= n) break;
      const r = l + 1;
      const c = r < n && h[r].req.deadline < h[l].req.deadline ? r : l;
      if (h[c].req.deadline >= e.req.deadline) break;
      h[i] = h[c];
      h[i].heapIdx = i;
      i = c;
    }
    h[i] = e;
    e.heapIdx = i;
  }
}
