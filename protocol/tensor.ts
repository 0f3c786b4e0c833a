// Tensors as the sidecar holds them between the wire and ONNX Runtime: a
// datatype from the protocol, a shape, and a typed array whose element type
// ONNX Runtime accepts directly, so no conversion copy sits in between.

/** Open Inference Protocol datatypes. */
export type Datatype =
  'BOOL' | 'UINT8' | 'UINT16' | 'UINT32' | 'UINT64' | 'INT8' | 'INT16' | 'INT32' | 'INT64' | 'FP16' | 'FP32' | 'FP64' | 'BYTES';

export const DATATYPES: readonly Datatype[] = [
  'BOOL',
  'UINT8',
  'UINT16',
  'UINT32',
  'UINT64',
  'INT8',
  'INT16',
  'INT32',
  'INT64',
  'FP16',
  'FP32',
  'FP64',
  'BYTES',
];

/** Element storage: BOOL is Uint8Array (0/1), FP16 is Uint16Array (raw bits), BYTES is string[]. */
export type TensorData =
  | Float32Array
  | Float64Array
  | Int8Array
  | Int16Array
  | Int32Array
  | BigInt64Array
  | Uint8Array
  | Uint16Array
  | Uint32Array
  | BigUint64Array
  | string[];

/** A named tensor. data.length equals the product of shape. */
export interface Tensor {
  readonly name: string;
  readonly datatype: Datatype;
  readonly shape: readonly number[];
  readonly data: TensorData;
}

type TypedCtor =
  | Float32ArrayConstructor
  | Float64ArrayConstructor
  | Int8ArrayConstructor
  | Int16ArrayConstructor
  | Int32ArrayConstructor
  | BigInt64ArrayConstructor
  | Uint8ArrayConstructor
  | Uint16ArrayConstructor
  | Uint32ArrayConstructor
  | BigUint64ArrayConstructor;

/** Typed-array constructor per fixed-size datatype (BYTES has none). */
export const TYPED_ARRAY: Readonly<Record<Exclude<Datatype, 'BYTES'>, TypedCtor>> = {
  BOOL: Uint8Array,
  UINT8: Uint8Array,
  UINT16: Uint16Array,
  UINT32: Uint32Array,
  UINT64: BigUint64Array,
  INT8: Int8Array,
  INT16: Int16Array,
  INT32: Int32Array,
  INT64: BigInt64Array,
  FP16: Uint16Array,
  FP32: Float32Array,
  FP64: Float64Array,
};

/** Bytes per element on the wire (raw_*_contents), 0 for BYTES. */
export function elementSize(dt: Datatype): number {
  return dt === 'BYTES' ? 0 : TYPED_ARRAY[dt].BYTES_PER_ELEMENT;
}

/** ONNX Runtime's tensor type name for a datatype. */
export const ORT_TYPE: Readonly<Record<Datatype, string>> = {
  BOOL: 'bool',
  UINT8: 'uint8',
  UINT16: 'uint16',
  UINT32: 'uint32',
  UINT64: 'uint64',
  INT8: 'int8',
  INT16: 'int16',
  INT32: 'int32',
  INT64: 'int64',
  FP16: 'float16',
  FP32: 'float32',
  FP64: 'float64',
  BYTES: 'string',
};

/** The datatype for an ONNX Runtime tensor type name, or undefined. */
export function datatypeOfOrt(type: string): Datatype | undefined {
  for (const dt of DATATYPES) if (ORT_TYPE[dt] === type) return dt;
  return undefined;
}

/** Number of elements a shape holds. */
export function elementCount(shape: readonly number[]): number {
  let n = 1;
  for (const d of shape) n *= d;
  return n;
}

/** Allocates a zeroed tensor data array of n elements. */
export function allocData(dt: Datatype, n: number): TensorData {
  return dt === 'BYTES' ? new Array<string>(n).fill('') : new TYPED_ARRAY[dt](n);
}

/** A typed array of datatype dt holding the given numbers (BYTES excluded). */
export function typedFromNumbers(dt: Exclude<Datatype, 'BYTES'>, values: ArrayLike<number>): TensorData {
  if (dt === 'INT64') return BigInt64Array.from(values, (v) => BigInt(v));
  if (dt === 'UINT64') return BigUint64Array.from(values, (v) => BigInt(v));
  // Every remaining constructor takes an array of numbers; the cast only joins their signatures.
  return new (TYPED_ARRAY[dt] as Float64ArrayConstructor)(values);
}
