// The dynamic batcher's loop: requests go into the priority queue; whenever an
// instance is free and the queue has work, the policy decides to send a batch
// now or wait; a wait sets one timer (also covering the earliest deadline), so
// the loop runs on arrivals, completions and that timer only.
//
// Hot-path budget: ~30K requests/s through one process, so per request the
// loop allocates one queue entry and one timing record, creates no closures
// (completion handlers exist once per instance), and a single-request batch
// reaches the runner with the caller's tensors untouched.
import type { Clock, TimerHandle } from '../../common/clock';
import { silentLogger, type Logger } from '../../common/log';
import { InferError, deadlineExceeded, internal, resourceExhausted, unavailable } from '../../protocol/status';
import { Batch, type BatchSink } from './batch';
import { decide, policyConfig, withoutDelay, type PolicyConfig } from './batch-policy';
import { BatchQueue, type QueueEntry } from './batch-queue';
import type { ModelConfig } from '../repository/config-types';
import type { ModelRunner, QueuedRequest, RequestTiming, Scheduler, SchedulerObserver } from './types';
import type { Tensor } from '../../protocol/tensor';

/** An execution instance as the batcher uses it; InstanceBreaker provides the optional parts. */
export interface BatcherInstance extends ModelRunner {
  /** Whether the instance refuses work now (its breaker is open); absent = never. */
  isOpen?(): boolean;
  /** Whether an execution is still running underneath (e.g. abandoned by a timeout); absent = never. */
  busy?(): boolean;
  /** Registers a callback for breaker state changes; the batcher re-checks its queue on each. */
  onStateChange?(fn: (state: string) => void): void;
  /** Registers a callback for when busy() turns false. */
  onIdle?(fn: () => void): void;
}

/** What a DynamicBatcher needs. */
export interface DynamicBatcherOptions {
  readonly config: ModelConfig;
  /** Execution instances, already breaker-guarded; each runs at most one batch at a time. */
  readonly instances: readonly BatcherInstance[];
  readonly clock: Clock;
  readonly observer?: SchedulerObserver;
  readonly log?: Logger;
}

/** One instance and the batch it is running. */
interface Slot {
  readonly index: number;
  readonly instance: BatcherInstance;
  batch: Batch<QueueEntry> | null;
  /** Completion handlers, made once per slot so a batch creates no closures. */
  readonly onOk: (outputs: Tensor[]) => void;
  readonly onErr: (err: unknown) => void;
}

/** A completion held back by preserve_ordering until earlier arrivals finish. */
interface Held {
  readonly req: QueuedRequest;
  readonly err: InferError | null;
  readonly outputs: Tensor[] | undefined;
  readonly timing: RequestTiming | undefined;
}

/** Triton-style dynamic batching over a set of instances. */
export class DynamicBatcher implements Scheduler, BatchSink<QueueEntry> {
  private readonly name: string;
  private readonly queue: BatchQueue;
  private readonly policy: PolicyConfig;
  private readonly drainPolicy: PolicyConfig;
  private readonly batchDims: boolean;
  private readonly maxQueue: number;
  private readonly preserveOrdering: boolean;
  private readonly slots: Slot[] = [];
  private readonly clock: Clock;
  private readonly observer: SchedulerObserver | undefined;
  private readonly log: Logger;
  private rr = 0;
  private running = 0;
  private timer: TimerHandle | null = null;
  private timerAt = Infinity;
  private pumping = false;
  private repump = false;
  private draining = false;
  private drainWaiters: (() => void)[] = [];
  /** preserve_ordering: next arrival sequence to release, and completions waiting for it. */
  private nextSeq = 0;
  private readonly held = new Map<number, Held>();
  private readonly onTimer = (): void => {
    this.timer = null;
    this.timerAt = Infinity;
    this.pump();
  };
  private readonly wake = (): void => this.pump();

  constructor(opts: DynamicBatcherOptions) {
    const cfg = opts.config;
    this.name = cfg.name;
    this.clock = opts.clock;
    this.observer = opts.observer;
    this.log = opts.log ?? silentLogger;
    const db = cfg.dynamic_batching;
    this.maxQueue = db?.max_queue_size ?? 0;
    this.queue = new BatchQueue(db?.priority_levels ?? 1, this.maxQueue);
    this.policy = policyConfig(cfg);
    this.drainPolicy = withoutDelay(this.policy);
    this.batchDims = cfg.max_batch_size > 0;
    this.preserveOrdering = db?.preserve_ordering ?? false;
    opts.instances.forEach((instance, index) => {
      const slot: Slot = {
        index,
        instance,
        batch: null,
        onOk: (outputs) => this.batchDone(slot, outputs, null),
        onErr: (err) => this.batchDone(slot, undefined, err ?? new Error('execution failed')),
      };
      this.slots.push(slot);
      instance.onStateChange?.(this.wake);
      instance.onIdle?.(this.wake);
    });
  }

  /** Queues a request, or rejects it at once (draining, every breaker open, queue full). */
  submit(req: QueuedRequest): void {
    if (this.draining) {
      return this.reject(
        req,
        unavailable(`model '${this.name}' is draining and takes no new requests; send to another replica`),
        'unavailable',
      );
    }
    if (this.allOpen()) return this.reject(req, this.openError(), 'unavailable');
    if (!this.queue.push(req)) {
      return this.reject(
        req,
        resourceExhausted(`model '${this.name}': queue is full (max_queue_size ${this.maxQueue}); retry later`),
        'queue_full',
      );
    }
    this.pump();
  }

  /** Requests waiting, not yet in a running batch. */
  queueDepth(): number {
    return this.queue.size;
  }

  /** Batches executing now. */
  inFlight(): number {
    return this.running;
  }

  /** Whether new requests are accepted and at least one instance's breaker is not open. */
  ready(): boolean {
    return !this.draining && !this.allOpen();
  }

  /** Stops accepting; queued requests are sent without further delay; resolves when all are done. */
  drain(): Promise<void> {
    this.draining = true;
    this.pump();
    if (this.drained()) return Promise.resolve();
    return new Promise((resolve) => this.drainWaiters.push(resolve));
  }

  /** BatchSink: one request's result, released in arrival order under preserve_ordering. */
  finish(e: QueueEntry, err: InferError | null, outputs?: Tensor[], timing?: RequestTiming): void {
    if (!this.preserveOrdering) return this.deliver(e.req, err, outputs, timing);
    if (e.seq !== this.nextSeq) {
      this.held.set(e.seq, { req: e.req, err, outputs, timing });
      return;
    }
    this.deliver(e.req, err, outputs, timing);
    this.nextSeq++;
    for (let h = this.held.get(this.nextSeq); h !== undefined; h = this.held.get(this.nextSeq)) {
      this.held.delete(this.nextSeq);
      this.deliver(h.req, h.err, h.outputs, h.timing);
      this.nextSeq++;
    }
  }

  /** Runs the loop until it has nothing to start; re-entrant calls (a done() that submits) just ask for another pass. */
  private pump(): void {
    if (this.pumping) {
      this.repump = true;
      return;
    }
    this.pumping = true;
    try {
      do {
        this.repump = false;
        this.step();
      } while (this.repump);
    } catch (e) {
      // A bug here must not strand the queue silently; log it and let the next event retry.
      this.log.error('batcher loop failed', { model: this.name, error: String(e) });
    } finally {
      this.pumping = false;
    }
    if (this.draining) this.checkDrained();
  }

  /** One pass: fail expired requests, start every batch that can start, set the timer. */
  private step(): void {
    const now = this.clock.now();
    this.expire(now);
    if (this.queue.size === 0) return this.setTimer(Infinity);
    if (this.allOpen()) {
      const err = this.openError();
      for (const e of this.queue.removeAll()) {
        this.observer?.onRejected('unavailable');
        this.finish(e, err);
      }
      return this.setTimer(Infinity);
    }
    const policy = this.draining ? this.drainPolicy : this.policy;
    while (this.queue.size > 0) {
      const slot = this.freeSlot();
      // No free instance: a completion will call pump; only deadlines need the timer.
      if (slot === null) return this.setTimer(this.queue.earliestDeadline());
      const d = decide(this.queue, now, policy);
      if (d.kind === 'wait') return this.setTimer(Math.min(now + d.ms, this.queue.earliestDeadline()));
      if (d.kind === 'idle') break;
      this.queue.take(d.entries);
      this.launch(slot, d.entries, now);
    }
    this.setTimer(this.queue.earliestDeadline());
  }

  /** Fails queued requests whose deadline has passed. */
  private expire(now: number): void {
    const gone = this.queue.removeExpired(now);
    for (const e of gone) {
      const waited = now - e.req.arrivedAt;
      this.observer?.onRejected('deadline');
      this.finish(
        e,
        deadlineExceeded(
          `model '${this.name}': request waited ${waited.toFixed(1)} ms in the queue and its deadline passed before it could run`,
        ),
      );
    }
  }

  /** Forms the batch and hands it to the slot's instance. */
  private launch(slot: Slot, entries: QueueEntry[], now: number): void {
    const batch = new Batch(this.name, this.batchDims, entries, this);
    let inputs: readonly Tensor[] | null;
    try {
      inputs = batch.prepare();
    } catch (e) {
      // Only a decoder bug (data not matching its datatype) gets here; fail this batch alone.
      batch.fail(internal(`model '${this.name}': could not assemble the batch: ${e instanceof Error ? e.message : String(e)}`), now);
      return;
    }
    if (inputs === null) return;
    batch.start(now);
    // Advance round-robin only when work is placed, not on every look for a free slot.
    this.rr = (slot.index + 1) % this.slots.length;
    slot.batch = batch;
    this.running++;
    let p: Promise<Tensor[]>;
    try {
      p = slot.instance.run(inputs);
    } catch (e) {
      p = Promise.reject(e);
    }
    p.then(slot.onOk, slot.onErr);
  }

  /** A slot's execution settled: complete or fail its batch, then look for more work. */
  private batchDone(slot: Slot, outputs: Tensor[] | undefined, err: unknown): void {
    const batch = slot.batch;
    if (batch === null) return;
    slot.batch = null;
    this.running--;
    try {
      const now = this.clock.now();
      let ok = false;
      if (outputs !== undefined) ok = batch.complete(outputs, now);
      else batch.fail(this.executionError(err), now);
      this.observer?.onBatch(batch.members.length, batch.rows, batch.computeMs, ok);
    } catch (e) {
      this.log.error('batch completion failed', { model: this.name, error: String(e) });
    }
    this.pump();
  }

  private executionError(err: unknown): InferError {
    if (err instanceof InferError) return err;
    return internal(`model '${this.name}' execution failed: ${err instanceof Error ? err.message : String(err)}`);
  }

  /** A free instance whose breaker is not open, starting after the last one given work. */
  private freeSlot(): Slot | null {
    const n = this.slots.length;
    for (let k = 0; k < n; k++) {
      const s = this.slots[(this.rr + k) % n];
      if (s.batch === null && s.instance.busy?.() !== true && s.instance.isOpen?.() !== true) return s;
    }
    return null;
  }

  /** Whether no instance can take work because every breaker is open (or there are no instances). */
  private allOpen(): boolean {
    for (const s of this.slots) if (s.instance.isOpen?.() !== true) return false;
    return true;
  }

  private openError(): InferError {
    return unavailable(`model '${this.name}': the circuit breaker is open on every instance; retry later or on another replica`);
  }

  /** Keeps one timer, due at `at` (Infinity = none); an unchanged due time keeps the timer. */
  private setTimer(at: number): void {
    if (at === this.timerAt) return;
    if (this.timer !== null) this.clock.clearTimeout(this.timer);
    this.timer = null;
    this.timerAt = at;
    if (at < Infinity) this.timer = this.clock.setTimeout(this.onTimer, Math.max(0, at - this.clock.now()));
  }

  private reject(req: QueuedRequest, err: InferError, reason: 'queue_full' | 'deadline' | 'unavailable'): void {
    this.observer?.onRejected(reason);
    this.deliver(req, err, undefined, undefined);
  }

  /** Calls done(); a throwing callback is logged, never allowed to break the loop or other requests. */
  private deliver(req: QueuedRequest, err: InferError | null, outputs: Tensor[] | undefined, timing: RequestTiming | undefined): void {
    try {
      req.done(err, outputs, timing);
    } catch (e) {
      this.log.error('request completion callback threw', { model: this.name, id: req.id, error: String(e) });
    }
  }

  private drained(): boolean {
    return this.queue.size === 0 && this.running === 0 && this.held.size === 0;
  }

  private checkDrained(): void {
    if (!this.drained() || this.drainWaiters.length === 0) return;
    const ws = this.drainWaiters;
    this.drainWaiters = [];
    for (const w of ws) w();
  }
}
