// What a successful call ends with: an InferResult, the response's routing
// fields and its outputs, typed by datatype; outputs are looked up by name
// because models name them, and data(name, datatype) states the expected
// datatype once and hands back the matching typed array, so callers need no
// casts. A failed call ends with an InferenceError (inference-error.ts).
import type { DataTypes, Datatype, OutputTensor } from './tensor';
import type { ResponseFields } from './wire';

/** The answer to one infer() call. */
export class InferResult {
  /** The model that answered. */
  readonly model: string;
  /** The version that answered (after any split). */
  readonly version: string;
  /** The request id, as sent. */
  readonly id: string;
  /** Outputs by name; narrow on `datatype` for typed data. */
  readonly outputs: Readonly<Record<string, OutputTensor>>;

  /** Wraps a decoded response. */
  constructor(r: ResponseFields) {
    this.model = r.model;
    this.version = r.version;
    this.id = r.id;
    const outputs: Record<string, OutputTensor> = {};
    for (const t of r.outputs) outputs[t.name] = t;
    this.outputs = outputs;
  }

  /** The named output's data, checked to be of datatype dt (throws naming what was there instead). */
  data<D extends Datatype>(name: string, dt: D): DataTypes[D] {
    const t = this.outputs[name];
    if (!t)
      throw new Error(`model '${this.model}' returned no output '${name}'; it returned ${Object.keys(this.outputs).join(', ') || 'none'}`);
    if (t.datatype !== dt) throw new Error(`output '${name}' of model '${this.model}' is ${t.datatype}, not ${dt}`);
    return t.data as DataTypes[D];
  }

  /** The named output's shape (throws when absent). */
  shape(name: string): readonly number[] {
    const t = this.outputs[name];
    if (!t) throw new Error(`model '${this.model}' returned no output '${name}'`);
    return t.shape;
  }
}
