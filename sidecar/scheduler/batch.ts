// One batch from formation to completion, with explicit states
// (forming → running → done | failed), and the tensor work around execution:
// concatenate the members' inputs along dim 0 (one allocation per input; a
// single-member batch passes its tensors through untouched), then slice every
// output back per member as subarray views of the model's output (no copies).
import { internal, invalidArgument, type InferError } from '../../protocol/status';
import type { QueuedRequest, RequestTiming } from './types';
import { TYPED_ARRAY, type Datatype, type Tensor, type TensorData } from '../../protocol/tensor';

/** Lifecycle of a batch. */
export type BatchState = 'forming' | 'running' | 'done' | 'failed';

/** Anything carrying a request; the batcher passes its queue entries. */
export interface BatchMember {
  /** The request this member stands for. */
  readonly req: QueuedRequest;
}

/** Where per-member results go; the batcher's sink enforces preserve_ordering. */
export interface BatchSink<M extends BatchMember> {
  /** Delivers one member's result; the batch calls it exactly once per member. */
  finish(member: M, err: InferError | null, outputs?: Tensor[], timing?: RequestTiming): void;
}

/** A sink that completes the request directly. */
export const directSink: BatchSink<BatchMember> = {
  finish: (m, err, outputs, timing) => m.req.done(err, outputs, timing),
};

const fmt = (shape: readonly number[]) => `[${shape.join(',')}]`;

/** Elements per row (product of dims after dim 0). */
function rowElements(shape: readonly number[]): number {
  let n = 1;
  for (let k = 1; k < shape.length; k++) n *= shape[k];
  return n;
}

/** A group of requests executed together. Methods are called by the batcher loop only. */
export class Batch<M extends BatchMember = BatchMember> {
  /** Current state. */
  state: BatchState = 'forming';
  /** Members still in the batch (prepare() drops malformed ones). */
  members: M[];
  /** Total rows of the members. */
  rows = 0;
  /** Clock time execution started. */
  startedAt = 0;
  /** Execution time (ms), set on done or failed. */
  computeMs = 0;

  /**
   * @param model model name, for messages
   * @param batching whether inputs carry a batch dim (max_batch_size > 0)
   */
  constructor(
    readonly model: string,
    private readonly batching: boolean,
    members: M[],
    private readonly sink: BatchSink<M>,
  ) {
    this.members = members;
    for (const m of members) this.rows += m.req.batchSize;
  }

  /**
   * Builds the model inputs. Members whose tensors disagree with the batch's
   * (the decoder validated them; this only guards) fail alone with
   * INVALID_ARGUMENT. Returns null, state failed, when no member is left.
   */
  prepare(): readonly Tensor[] | null {
    if (this.members.length === 1) return this.members[0].req.inputs;
    const kept: M[] = [];
    let ref: readonly Tensor[] | null = null;
    for (const m of this.members) {
      const why = ref === null ? this.selfCheck(m.req) : (this.selfCheck(m.req) ?? this.compatCheck(m.req, ref));
      if (why !== null) {
        this.sink.finish(m, invalidArgument(`model '${this.model}': ${why}; request '${m.req.id}' could not join the batch`));
        continue;
      }
      ref ??= m.req.inputs;
      kept.push(m);
    }
    this.members = kept;
    this.rows = 0;
    for (const m of kept) this.rows += m.req.batchSize;
    if (ref === null) {
      this.state = 'failed';
      return null;
    }
    if (kept.length === 1) return ref;
    const out: Tensor[] = [];
    for (let i = 0; i < ref.length; i++) out.push(this.concat(i, ref[i]));
    return out;
  }

  /** Marks execution as started at now. */
  start(now: number): void {
    this.state = 'running';
    this.startedAt = now;
  }

  /**
   * Slices outputs back to the members and completes them. A wrong output
   * shape or a missing requested output fails every member with INTERNAL.
   * Returns whether the batch succeeded.
   */
  complete(outputs: readonly Tensor[], now: number): boolean {
    if (this.state !== 'running') return false;
    const bad = this.checkOutputs(outputs);
    if (bad !== null) {
      this.fail(internal(`model '${this.model}' ${bad}`), now);
      return false;
    }
    this.computeMs = now - this.startedAt;
    this.state = 'done';
    if (!this.batching || this.members.length === 1) {
      const m = this.members[0];
      this.sink.finish(m, null, pick(outputs, m.req.outputs, false, 0, 0), this.timing(m.req));
      return true;
    }
    let row = 0;
    for (const m of this.members) {
      const k = m.req.batchSize;
      this.sink.finish(m, null, pick(outputs, m.req.outputs, true, row, k), this.timing(m.req));
      row += k;
    }
    return true;
  }

  /** Fails every member with err (once; later calls are ignored). */
  fail(err: InferError, now: number): void {
    if (this.state === 'done' || this.state === 'failed') return;
    this.computeMs = this.state === 'running' ? now - this.startedAt : 0;
    this.state = 'failed';
    for (const m of this.members) this.sink.finish(m, err);
  }

  private timing(req: QueuedRequest): RequestTiming {
    return { queueMs: this.startedAt - req.arrivedAt, computeMs: this.computeMs, batchRows: this.rows };
  }

  /** Why the request's own tensors are inconsistent, or null. */
  private selfCheck(req: QueuedRequest): string | null {
    for (const t of req.inputs) {
      if (t.shape.length === 0 || t.shape[0] !== req.batchSize || t.data.length !== req.batchSize * rowElements(t.shape)) {
        return `input '${t.name}' has shape ${fmt(t.shape)} with ${t.data.length} elements; expected ${req.batchSize} rows`;
      }
    }
    return null;
  }

  /** Why the request cannot be concatenated with ref, or null. */
  private compatCheck(req: QueuedRequest, ref: readonly Tensor[]): string | null {
    if (req.inputs.length !== ref.length) return `request has ${req.inputs.length} inputs; the batch has ${ref.length}`;
    for (let i = 0; i < ref.length; i++) {
      const a = req.inputs[i];
      const b = ref[i];
      if (a.datatype !== b.datatype || a.shape.length !== b.shape.length) return `input '${a.name}' does not match the batch's '${b.name}'`;
      for (let k = 1; k < a.shape.length; k++) {
        if (a.shape[k] !== b.shape[k]) return `input '${a.name}' has shape ${fmt(a.shape)}; the batch has rows of ${fmt(b.shape.slice(1))}`;
      }
    }
    return null;
  }

  /** Input i of every member joined along dim 0, in one allocation. */
  private concat(i: number, ref: Tensor): Tensor {
    const per = rowElements(ref.shape);
    const total = this.rows * per;
    const shape = [this.rows, ...ref.shape.slice(1)];
    let data: TensorData;
    if (ref.datatype === 'BYTES') {
      const arr = new Array<string>(total);
      let o = 0;
      for (const m of this.members) {
        const src = m.req.inputs[i].data as string[];
        for (let j = 0; j < src.length; j++) arr[o++] = src[j];
      }
      data = arr;
    } else {
      const dst = new TYPED_ARRAY[ref.datatype as Exclude<Datatype, 'BYTES'>](total);
      let o = 0;
      for (const m of this.members) {
        const src = m.req.inputs[i].data;
        // compatCheck made every member's datatype equal, so src has dst's element type;
        // the cast only joins the typed-array signatures.
        (dst as Float64Array).set(src as Float64Array, o);
        o += src.length;
      }
      data = dst;
    }
    return { name: ref.name, datatype: ref.datatype, shape, data };
  }

  /** A description of what is wrong with the outputs, or null. */
  private checkOutputs(outputs: readonly Tensor[]): string | null {
    for (const t of outputs) {
      let n = 1;
      for (const d of t.shape) n *= d;
      if (t.data.length !== n) return `returned output '${t.name}' with shape ${fmt(t.shape)} but ${t.data.length} elements`;
      if (this.batching && (t.shape.length === 0 || t.shape[0] !== this.rows)) {
        return `returned output '${t.name}' with shape ${fmt(t.shape)}; expected dim 0 = ${this.rows} (the batch's rows)`;
      }
    }
    for (const m of this.members) {
      const names = m.req.outputs;
      if (names === undefined) continue;
      for (const n of names) if (findOutput(outputs, n) === undefined) return `did not return output '${n}'`;
    }
    return null;
  }
}

/** The member's outputs: all or the named subset, whole or rows [row, row+k). */
function pick(outputs: readonly Tensor[], names: readonly string[] | undefined, slice: boolean, row: number, k: number): Tensor[] {
  if (names === undefined) {
    if (!slice) return outputs as Tensor[];
    const out: Tensor[] = new Array(outputs.length);
    for (let i = 0; i < outputs.length; i++) out[i] = sliceRows(outputs[i], row, k);
    return out;
  }
  const out: Tensor[] = new Array(names.length);
  for (let j = 0; j < names.length; j++) {
    // checkOutputs proved every name is present.
    const t = findOutput(outputs, names[j])!;
    out[j] = slice ? sliceRows(t, row, k) : t;
  }
  return out;
}

/** The output named name (a loop, not find(): no closure per request on the hot path). */
function findOutput(outputs: readonly Tensor[], name: string): Tensor | undefined {
  for (let i = 0; i < outputs.length; i++) if (outputs[i].name === name) return outputs[i];
  return undefined;
}

/** Rows [row, row+k) of t: a subarray view for typed arrays, a copy for BYTES (string[] has no views). */
function sliceRows(t: Tensor, row: number, k: number): Tensor {
  const per = rowElements(t.shape);
  const shape = t.shape.slice();
  shape[0] = k;
  const a = row * per;
  const b = a + k * per;
  const data = Array.isArray(t.data) ? t.data.slice(a, b) : t.data.subarray(a, b);
  return { name: t.name, datatype: t.datatype, shape, data };
}
