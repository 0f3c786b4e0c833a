// Tensors as the client's callers see them: a datatype from the protocol, a
// shape, and the typed array that datatype maps to (the sidecar's mapping,
// protocol/tensor.ts), both ways. Inputs become raw_input_contents bytes:
// a typed array of the datatype's own type is viewed, not converted, so the
// only copy is the encoder's into the message. Outputs are views over the
// received message where alignment allows (a typed array needs its byte
// offset to be a multiple of its element size; protobuf puts no padding
// before a bytes field, so a slice often is not), copied otherwise.
import * as os from 'node:os';
import { Status } from '../protocol/status';
import { DATATYPES, elementCount, TYPED_ARRAY, type Datatype } from '../protocol/tensor';
import { InferenceError } from './inference-error';

export type { Datatype } from '../protocol/tensor';

/** Element storage per datatype: BOOL is 0/1 bytes, FP16 raw bits, BYTES one Buffer per element. */
export interface DataTypes {
  BOOL: Uint8Array;
  UINT8: Uint8Array;
  UINT16: Uint16Array;
  UINT32: Uint32Array;
  UINT64: BigUint64Array;
  INT8: Int8Array;
  INT16: Int16Array;
  INT32: Int32Array;
  INT64: BigInt64Array;
  FP16: Uint16Array;
  FP32: Float32Array;
  FP64: Float64Array;
  BYTES: Buffer[];
}

/** A tensor whose data is typed by its datatype. */
export interface TensorOf<D extends Datatype> {
  /** Tensor name, as the model config names it. */
  readonly name: string;
  /** Protocol datatype; narrowing on it narrows data. */
  readonly datatype: D;
  /** Dimensions, row-major. */
  readonly shape: readonly number[];
  /** Elements, row-major; length is the product of shape. */
  readonly data: DataTypes[D];
}

/** An output tensor: check `datatype` to get typed `data` (FP32 → Float32Array, INT64 → BigInt64Array...). */
export type OutputTensor = { [D in Datatype]: TensorOf<D> }[Datatype];

/** Values accepted for an input of datatype D: its own typed array (sent as is) or plain values (converted). */
export type InputData<D extends Datatype> =
  | DataTypes[D]
  | (D extends 'INT64' | 'UINT64'
      ? ArrayLike<bigint | number>
      : D extends 'BYTES'
        ? ReadonlyArray<string | Uint8Array>
        : D extends 'BOOL'
          ? ArrayLike<boolean | number>
          : ArrayLike<number>);

/** One input without its name (the key of an inputs record names it). */
export type InputSpec = {
  [D in Datatype]: { readonly datatype: D; readonly shape: readonly number[]; readonly data: InputData<D> };
}[Datatype];

/** One named input. */
export type NamedInput = InputSpec & { readonly name: string };

/** A request's inputs: a record keyed by input name, or a list in the model's order. */
export type Inputs = Readonly<Record<string, InputSpec>> | readonly NamedInput[];

// Typed arrays use the host's byte order and the protocol is little-endian;
// every platform Node ships for is little-endian, so a view is the wire form.
const LITTLE_ENDIAN = os.endianness() === 'LE';

const invalid = (msg: string) => new InferenceError(Status.INVALID_ARGUMENT, msg);

/** The inputs as a list, in order. */
export function inputList(inputs: Inputs): readonly NamedInput[] {
  if (Array.isArray(inputs)) return inputs as readonly NamedInput[];
  const out: NamedInput[] = [];
  // Named fields, not a spread: a spread of an arbitrary object was the costliest line of a call in a CPU profile.
  for (const [name, s] of Object.entries(inputs as Record<string, InputSpec>))
    out.push({ name, datatype: s.datatype, shape: s.shape, data: s.data } as NamedInput);
  return out;
}

/** An input's raw_input_contents bytes: a view over its typed array, or the converted values. Throws INVALID_ARGUMENT. */
export function inputBytes(t: NamedInput): Uint8Array {
  if (!LITTLE_ENDIAN)
    throw new InferenceError(Status.UNIMPLEMENTED, 'this client sends typed arrays as they lie in memory and needs a little-endian host');
  if (!DATATYPES.includes(t.datatype))
    throw invalid(`input '${t.name}' has datatype '${t.datatype}'; expected one of ${DATATYPES.join(', ')}`);
  if (!t.shape.every((d) => Number.isSafeInteger(d) && d >= 0))
    throw invalid(`input '${t.name}' has shape [${t.shape.join(', ')}]; expected whole numbers >= 0`);
  const count = elementCount(t.shape);
  if (t.datatype === 'BYTES') return bytesRaw(t.name, t.data as ReadonlyArray<string | Uint8Array>, count);
  const Ctor = TYPED_ARRAY[t.datatype];
  const given = t.data as ArrayLike<number | bigint | boolean>;
  const typed = given instanceof Ctor ? given : convert(t.name, t.datatype, given);
  if (typed.length !== count)
    throw invalid(`input '${t.name}' has ${typed.length} elements; its shape [${t.shape.join(', ')}] needs ${count}`);
  return new Uint8Array(typed.buffer, typed.byteOffset, typed.byteLength);
}

/** Plain values as the datatype's typed array. */
function convert(
  name: string,
  dt: Exclude<Datatype, 'BYTES'>,
  values: ArrayLike<number | bigint | boolean>,
): ArrayBufferView & { length: number } {
  try {
    if (dt === 'INT64') return BigInt64Array.from(values as ArrayLike<number | bigint>, (v) => BigInt(v));
    if (dt === 'UINT64') return BigUint64Array.from(values as ArrayLike<number | bigint>, (v) => BigInt(v));
    return (TYPED_ARRAY[dt] as Float64ArrayConstructor).from(values as ArrayLike<number>, (v) => Number(v));
  } catch (e) {
    // BigInt(1.5) and the like throw RangeError; name the input instead.
    throw invalid(`input '${name}' holds a value that cannot be ${dt}: ${e instanceof Error ? e.message : String(e)}`);
  }
}

/** BYTES raw form: each element a 4-byte little-endian length, then its bytes. */
function bytesRaw(name: string, items: ReadonlyArray<string | Uint8Array>, count: number): Uint8Array {
  if (items.length !== count) throw invalid(`input '${name}' has ${items.length} elements; its shape needs ${count}`);
  const parts: Buffer[] = [];
  for (const it of items) {
    const b = typeof it === 'string' ? Buffer.from(it, 'utf8') : Buffer.from(it.buffer, it.byteOffset, it.byteLength);
    const len = Buffer.allocUnsafe(4);
    len.writeUInt32LE(b.byteLength, 0);
    parts.push(len, b);
  }
  return Buffer.concat(parts);
}

/** An output from its raw_output_contents bytes: a view when aligned, else one copy. Throws INTERNAL on a size mismatch. */
export function outputTensor(name: string, datatype: string, shape: number[], raw: Buffer): OutputTensor {
  if (!DATATYPES.includes(datatype as Datatype))
    throw new InferenceError(Status.INTERNAL, `output '${name}' has datatype '${datatype}', unknown to this client`);
  const dt = datatype as Datatype;
  const count = elementCount(shape);
  if (dt === 'BYTES') return { name, datatype: dt, shape, data: bytesElements(name, raw, count) };
  const Ctor = TYPED_ARRAY[dt];
  const size = Ctor.BYTES_PER_ELEMENT;
  if (raw.byteLength !== count * size) {
    throw new InferenceError(
      Status.INTERNAL,
      `output '${name}' has ${raw.byteLength} bytes; shape [${shape.join(', ')}] of ${dt} needs ${count * size}`,
    );
  }
  if (raw.byteOffset % size === 0)
    return { name, datatype: dt, shape, data: new Ctor(raw.buffer as ArrayBuffer, raw.byteOffset, count) } as OutputTensor;
  const copy = new Uint8Array(raw.byteLength);
  copy.set(raw);
  return { name, datatype: dt, shape, data: new Ctor(copy.buffer, 0, count) } as OutputTensor;
}

/** BYTES elements as views into raw. */
function bytesElements(name: string, raw: Buffer, count: number): Buffer[] {
  const out: Buffer[] = [];
  for (let off = 0; off < raw.byteLength;) {
    const len = off + 4 <= raw.byteLength ? raw.readUInt32LE(off) : -1;
    if (len < 0 || off + 4 + len > raw.byteLength)
      throw new InferenceError(Status.INTERNAL, `output '${name}' BYTES element ${out.length} is truncated`);
    out.push(raw.subarray(off + 4, off + 4 + len));
    off += 4 + len;
  }
  if (out.length !== count)
    throw new InferenceError(Status.INTERNAL, `output '${name}' holds ${out.length} BYTES elements; its shape needs ${count}`);
  return out;
}
