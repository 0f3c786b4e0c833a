// ModelInferRequest → DecodedInput[] and outputs → ModelInferResponse.
// raw_input_contents are viewed in place when aligned (protobufjs hands us
// slices of the received frame), copied only when the element size does not
// divide the offset. Responses always use raw_output_contents built as views
// over the output tensors, as Triton's gRPC frontend does.
import type { ModelInferRequest__Output } from '../proto/gen/inference/ModelInferRequest';
import type { ModelInferResponse } from '../proto/gen/inference/ModelInferResponse';
import type { InferParameter__Output } from '../proto/gen/inference/InferParameter';
import type { InferTensorContents__Output } from '../proto/gen/inference/InferTensorContents';
import { invalidArgument } from './status';
import type { DecodedInput, SchedulingParams } from './decoded-request';
import { DATATYPES, TYPED_ARRAY, elementCount, typedFromNumbers, type Datatype, type Tensor, type TensorData } from './tensor';

/** Reads the inputs of a request, from raw_input_contents or typed contents. */
export function decodeGrpcInputs(req: ModelInferRequest__Output): DecodedInput[] {
  const raw = req.raw_input_contents;
  if (raw.length > 0 && raw.length !== req.inputs.length) {
    throw invalidArgument(`raw_input_contents has ${raw.length} entries; expected one per input (${req.inputs.length})`);
  }
  const out: DecodedInput[] = new Array(req.inputs.length);
  for (let i = 0; i < req.inputs.length; i++) {
    const t = req.inputs[i];
    if (!DATATYPES.includes(t.datatype as Datatype)) {
      throw invalidArgument(`input '${t.name}' has datatype '${t.datatype}'; expected one of ${DATATYPES.join(', ')}`);
    }
    const dt = t.datatype as Datatype;
    let data: TensorData;
    if (raw.length > 0) {
      if (hasContents(t.contents)) {
        throw invalidArgument(`input '${t.name}' sets contents while raw_input_contents is used; use one or the other`);
      }
      data = fromRaw(t.name, dt, raw[i], elementCount(t.shape));
    } else {
      data = fromContents(t.name, dt, t.contents);
    }
    out[i] = { name: t.name, datatype: dt, shape: t.shape, data };
  }
  return out;
}

function hasContents(c: InferTensorContents__Output | null): boolean {
  if (!c) return false;
  return (
    c.bool_contents.length +
      c.int_contents.length +
      c.int64_contents.length +
      c.uint_contents.length +
      c.uint64_contents.length +
      c.fp32_contents.length +
      c.fp64_contents.length +
      c.bytes_contents.length >
    0
  );
}

/** Views (or copies, if unaligned) a raw little-endian buffer as the datatype's typed array. */
export function fromRaw(name: string, dt: Datatype, buf: Buffer, count: number): TensorData {
  if (dt === 'BYTES') return decodeBytesRaw(name, buf, count);
  const Ctor = TYPED_ARRAY[dt];
  const size = Ctor.BYTES_PER_ELEMENT;
  if (buf.byteLength !== count * size) {
    throw invalidArgument(
      `input '${name}' raw_input_contents has ${buf.byteLength} bytes; expected ${count * size} (${count} elements × ${size} bytes of ${dt})`,
    );
  }
  if (buf.byteOffset % size === 0) return new Ctor(buf.buffer as ArrayBuffer, buf.byteOffset, count);
  const copy = new Uint8Array(buf.byteLength);
  copy.set(buf);
  return new Ctor(copy.buffer, 0, count);
}

/** BYTES raw form: each element is a 4-byte little-endian length then its bytes. */
function decodeBytesRaw(name: string, buf: Buffer, count: number): string[] {
  const out: string[] = [];
  let off = 0;
  while (off < buf.byteLength) {
    if (off + 4 > buf.byteLength) throw invalidArgument(`input '${name}' BYTES element ${out.length} has a truncated length prefix`);
    const len = buf.readUInt32LE(off);
    off += 4;
    if (off + len > buf.byteLength)
      throw invalidArgument(`input '${name}' BYTES element ${out.length} claims ${len} bytes but only ${buf.byteLength - off} remain`);
    out.push(buf.toString('utf8', off, off + len));
    off += len;
  }
  if (out.length !== count) throw invalidArgument(`input '${name}' raw BYTES holds ${out.length} elements; its shape needs ${count}`);
  return out;
}

/** Typed contents: the field each datatype uses in InferTensorContents. */
function fromContents(name: string, dt: Datatype, c: InferTensorContents__Output | null): TensorData {
  const none = (field: string) => invalidArgument(`input '${name}' has no data; expected contents.${field} or raw_input_contents`);
  switch (dt) {
    case 'BOOL':
      if (!c?.bool_contents.length) throw none('bool_contents');
      return Uint8Array.from(c.bool_contents, (b) => (b ? 1 : 0));
    case 'INT8':
    case 'INT16':
    case 'INT32':
      if (!c?.int_contents.length) throw none('int_contents');
      return typedFromNumbers(dt, c.int_contents);
    case 'UINT8':
    case 'UINT16':
    case 'UINT32':
      if (!c?.uint_contents.length) throw none('uint_contents');
      return typedFromNumbers(dt, c.uint_contents);
    case 'INT64':
      if (!c?.int64_contents.length) throw none('int64_contents');
      return typedFromNumbers(dt, c.int64_contents);
    case 'UINT64':
      if (!c?.uint64_contents.length) throw none('uint64_contents');
      return typedFromNumbers(dt, c.uint64_contents);
    case 'FP32':
      if (!c?.fp32_contents.length) throw none('fp32_contents');
      return typedFromNumbers(dt, c.fp32_contents);
    case 'FP64':
      if (!c?.fp64_contents.length) throw none('fp64_contents');
      return typedFromNumbers(dt, c.fp64_contents);
    case 'BYTES':
      if (!c?.bytes_contents.length) throw none('bytes_contents');
      return c.bytes_contents.map((b) => b.toString('utf8'));
    case 'FP16':
      throw invalidArgument(`input '${name}' is FP16, which has no typed contents field; send it in raw_input_contents`);
  }
}

/** Reads `priority` and `timeout` from request parameters, checking their types. */
export function schedulingParams(params: Record<string, InferParameter__Output>): SchedulingParams {
  return { priority: intParam(params, 'priority'), timeoutUs: intParam(params, 'timeout') };
}

function intParam(params: Record<string, InferParameter__Output>, key: string): number | undefined {
  const p = params[key];
  if (!p) return undefined;
  switch (p.parameter_choice) {
    case 'int64_param':
      return p.int64_param ?? 0;
    case 'uint64_param':
      return p.uint64_param ?? 0;
    default:
      throw invalidArgument(`parameter '${key}' is a ${p.parameter_choice ?? 'unset value'}; expected int64_param`);
  }
}

/** A zero-copy Buffer over a typed array's bytes (or the BYTES raw encoding). */
export function toRaw(t: Tensor): Buffer {
  const d = t.data;
  if (Array.isArray(d)) {
    const parts: Buffer[] = [];
    for (const s of d) {
      const b = Buffer.from(s, 'utf8');
      const len = Buffer.allocUnsafe(4);
      len.writeUInt32LE(b.byteLength, 0);
      parts.push(len, b);
    }
    return Buffer.concat(parts);
  }
  return Buffer.from(d.buffer, d.byteOffset, d.byteLength);
}

/** Builds the response; outputs use raw_output_contents. */
export function encodeGrpcResponse(model: string, version: string, id: string, outputs: readonly Tensor[]): ModelInferResponse {
  const tensors = new Array(outputs.length);
  const raw = new Array<Buffer>(outputs.length);
  for (let i = 0; i < outputs.length; i++) {
    const t = outputs[i];
    tensors[i] = { name: t.name, datatype: t.datatype, shape: t.shape as number[] };
    raw[i] = toRaw(t);
  }
  return { model_name: model, model_version: version, id, outputs: tensors, raw_output_contents: raw };
}
