// Fakes for scheduler tests: a ModelRunner whose executions the test resolves
// (or that answers at once), and a QueuedRequest that records every done()
// call so tests can assert each request completed exactly once.
import assert from 'node:assert/strict';
import type { InferError } from '../../protocol/status';
import type { BatcherInstance } from '../../sidecar/scheduler/batcher';
import type { QueuedRequest, RequestTiming } from '../../sidecar/scheduler/types';
import type { Datatype, Tensor, TensorData } from '../../protocol/tensor';

/** Resolves after pending promise callbacks have run (setImmediate follows the microtask queue). */
export const flush = (): Promise<void> => new Promise((resolve) => setImmediate(resolve));

/** Default model: output 'score' [rows, 1] = sum of each row of the first input. */
export function rowSums(inputs: readonly Tensor[]): Tensor[] {
  const x = inputs[0];
  const rows = x.shape[0];
  const per = x.data.length / rows;
  const out = new Float32Array(rows);
  for (let r = 0; r < rows; r++) {
    let s = 0;
    for (let k = 0; k < per; k++) s += Number(x.data[r * per + k]);
    out[r] = s;
  }
  return [{ name: 'score', datatype: 'FP32', shape: [rows, 1], data: out }];
}

interface Deferred {
  readonly inputs: readonly Tensor[];
  resolve(outputs: Tensor[]): void;
  reject(err: unknown): void;
}

/** A scriptable execution instance. */
export class FakeRunner implements BatcherInstance {
  /** Inputs of every run, in order. */
  readonly calls: (readonly Tensor[])[] = [];
  /** 'auto' answers with compute(); 'manual' waits for resolveNext/rejectNext. */
  mode: 'auto' | 'manual';
  /** The model function for 'auto' and for resolveNext() without outputs. */
  compute: (inputs: readonly Tensor[]) => Tensor[] = rowSums;
  /** When set, every run rejects with it ('auto') or throws synchronously (throwSync). */
  failWith: unknown = null;
  throwSync = false;
  closed = false;
  private open = false;
  private readonly pending: Deferred[] = [];
  private readonly listeners: ((state: string) => void)[] = [];

  constructor(mode: 'auto' | 'manual' = 'auto') {
    this.mode = mode;
  }

  run(inputs: readonly Tensor[]): Promise<Tensor[]> {
    this.calls.push(inputs);
    if (this.failWith !== null) {
      if (this.throwSync) throw this.failWith;
      return Promise.reject(this.failWith);
    }
    if (this.mode === 'auto') return Promise.resolve(this.compute(inputs));
    return new Promise((resolve, reject) => this.pending.push({ inputs, resolve, reject }));
  }

  async close(): Promise<void> {
    this.closed = true;
  }

  /** Executions waiting in manual mode. */
  waiting(): number {
    return this.pending.length;
  }

  /** Rows of each run so far. */
  rows(): number[] {
    return this.calls.map((c) => c[0].shape[0]);
  }

  /** Completes the oldest waiting execution with outputs (default: compute of its inputs). */
  resolveNext(outputs?: Tensor[]): void {
    const d = this.pending.shift();
    assert.ok(d, 'no execution waiting');
    d.resolve(outputs ?? this.compute(d.inputs));
  }

  /** Fails the oldest waiting execution. */
  rejectNext(err: unknown): void {
    const d = this.pending.shift();
    assert.ok(d, 'no execution waiting');
    d.reject(err);
  }

  isOpen(): boolean {
    return this.open;
  }

  /** Simulates the instance's breaker opening or closing. */
  setOpen(open: boolean): void {
    this.open = open;
    for (const fn of this.listeners) fn(open ? 'open' : 'closed');
  }

  onStateChange(fn: (state: string) => void): void {
    this.listeners.push(fn);
  }
}

/** Options for a fake request; defaults make a one-row ranker request. */
export interface FakeRequestOptions {
  id?: string;
  rows?: number;
  /** Elements per row of the single FP32 input 'features' (default 4). */
  width?: number;
  /** Value of every element (default: the request's number, so outputs tell requests apart). */
  value?: number;
  shapeKey?: string;
  priority?: number;
  arrivedAt?: number;
  deadline?: number;
  outputs?: readonly string[];
  inputs?: readonly Tensor[];
  /** Shared log: done() appends the id, for ordering assertions. */
  log?: string[];
  /** Called inside done() (e.g. to submit another request). */
  onDone?: () => void;
}

/** One recorded done() call. */
export interface DoneCall {
  readonly err: InferError | null;
  readonly outputs: Tensor[] | undefined;
  readonly timing: RequestTiming | undefined;
}

let counter = 0;

/** A QueuedRequest recording its completions. */
export class FakeRequest implements QueuedRequest {
  readonly id: string;
  readonly inputs: readonly Tensor[];
  readonly batchSize: number;
  readonly shapeKey: string;
  readonly priority: number;
  readonly arrivedAt: number;
  readonly deadline: number;
  readonly outputs?: readonly string[];
  readonly calls: DoneCall[] = [];
  private readonly log?: string[];
  private readonly onDone?: () => void;

  constructor(o: FakeRequestOptions = {}) {
    const n = ++counter;
    this.id = o.id ?? `r${n}`;
    const rows = o.rows ?? 1;
    const width = o.width ?? 4;
    this.inputs = o.inputs ?? [tensor('features', 'FP32', [rows, width], new Float32Array(rows * width).fill(o.value ?? n))];
    this.batchSize = rows;
    this.shapeKey = o.shapeKey ?? `${width};`;
    this.priority = o.priority ?? 1;
    this.arrivedAt = o.arrivedAt ?? 0;
    this.deadline = o.deadline ?? Infinity;
    this.outputs = o.outputs;
    this.log = o.log;
    this.onDone = o.onDone;
  }

  done(err: InferError | null, outputs?: Tensor[], timing?: RequestTiming): void {
    this.calls.push({ err, outputs, timing });
    this.log?.push(this.id);
    this.onDone?.();
  }

  /** The single completion; fails the test unless done() was called exactly once. */
  get result(): DoneCall {
    assert.equal(this.calls.length, 1, `request ${this.id}: done() called ${this.calls.length} times, expected once`);
    return this.calls[0];
  }
}

/** Builds a tensor. */
export function tensor(name: string, datatype: Datatype, shape: number[], data: TensorData): Tensor {
  return { name, datatype, shape, data };
}

/** Asserts every request completed exactly once. */
export function assertDoneOnce(reqs: readonly FakeRequest[]): void {
  for (const r of reqs) void r.result;
}
