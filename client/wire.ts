// The client's protobuf encoding, by hand on the hot path: a request is a
// few short fields plus one bytes field per input (raw_input_contents,
// little-endian, row-major), so it is written with protobufjs' Writer
// (one copy of each tensor into the message) rather than built as an object
// tree and encoded. Responses are read with the field scanner the balancer uses
// (protocol/wire-fields.ts): raw_output_contents become typed views over the
// received bytes and nothing else is decoded.
import { Writer } from 'protobufjs';
import { Status } from '../protocol/status';
import { newSpan, scanField, varint } from '../protocol/wire-fields';
import { InferenceError } from './inference-error';
import { inputBytes, outputTensor, type NamedInput, type OutputTensor } from './tensor';

/** A request parameter value: integers go as int64, other numbers as double. */
export type ParamValue = string | number | bigint | boolean;

/** The fields of one ModelInferRequest. */
export interface RequestFields {
  /** Model name ('' when an objective names the use case instead). */
  readonly model: string;
  /** Version ('' = the server's choice or the routing split). */
  readonly version: string;
  /** Request id, echoed in the response ('' = none). */
  readonly id: string;
  /** Request parameters (priority, timeout, a shard key parameter...). */
  readonly parameters: Readonly<Record<string, ParamValue>>;
  /** Inputs in order; each becomes one raw_input_contents entry. */
  readonly inputs: readonly NamedInput[];
  /** Outputs to return; empty = all. */
  readonly outputs: readonly string[];
}

/** A decoded ModelInferResponse. */
export interface ResponseFields {
  /** The model that answered. */
  readonly model: string;
  /** The version that answered. */
  readonly version: string;
  /** The request id, echoed. */
  readonly id: string;
  /** In the server's order, data typed by datatype. */
  readonly outputs: readonly OutputTensor[];
}

/** Encodes a ModelInferRequest with raw_input_contents. Throws InferenceError(INVALID_ARGUMENT) for bad inputs. */
export function encodeInferRequest(f: RequestFields): Buffer {
  // Convert (and check) every input before writing: a bad one fails before any bytes are built.
  const raw = f.inputs.map(inputBytes);
  const w = Writer.create();
  if (f.model) w.uint32(10).string(f.model);
  if (f.version) w.uint32(18).string(f.version);
  if (f.id) w.uint32(26).string(f.id);
  for (const [k, v] of Object.entries(f.parameters)) {
    w.uint32(34).fork().uint32(10).string(k).uint32(18).fork();
    writeParam(w, v);
    w.ldelim().ldelim();
  }
  for (const t of f.inputs) {
    w.uint32(42).fork().uint32(10).string(t.name).uint32(18).string(t.datatype);
    if (t.shape.length > 0) {
      w.uint32(26).fork();
      for (const d of t.shape) w.int64(d);
      w.ldelim();
    }
    w.ldelim();
  }
  for (const name of f.outputs) w.uint32(50).fork().uint32(10).string(name).ldelim();
  for (const r of raw) w.uint32(58).bytes(r);
  return w.finish() as Buffer;
}

/** InferParameter: bool_param 1, int64_param 2, string_param 3, double_param 4. */
function writeParam(w: Writer, v: ParamValue): void {
  if (typeof v === 'boolean') w.uint32(8).bool(v);
  else if (typeof v === 'string') w.uint32(26).string(v);
  else if (typeof v === 'bigint') {
    const u = BigInt.asUintN(64, v);
    // protobufjs takes 64-bit values as {low, high} halves when no Long library is loaded.
    w.uint32(16).int64({ low: Number(u & 0xffffffffn), high: Number(u >> 32n), unsigned: false } as unknown as number);
  } else if (Number.isSafeInteger(v)) w.uint32(16).int64(v);
  else w.uint32(33).double(v);
}

/** Encodes a ModelReadyRequest. */
export function encodeReadyRequest(model: string, version: string): Buffer {
  const w = Writer.create().uint32(10).string(model);
  if (version) w.uint32(18).string(version);
  return w.finish() as Buffer;
}

const utf8 = (b: Buffer, s: { start: number; end: number }) => b.toString('utf8', s.start, s.end);

/** Decodes a ModelInferResponse; outputs are views into buf where aligned. Throws InferenceError(INTERNAL) when malformed. */
export function decodeInferResponse(buf: Buffer): ResponseFields {
  try {
    return decode(buf);
  } catch (e) {
    if (e instanceof InferenceError) throw e;
    throw new InferenceError(Status.INTERNAL, `malformed ModelInferResponse: ${e instanceof Error ? e.message : String(e)}`);
  }
}

function decode(buf: Buffer): ResponseFields {
  let model = '';
  let version = '';
  let id = '';
  const heads: Array<{ name: string; datatype: string; shape: number[] }> = [];
  const raws: Buffer[] = [];
  const s = newSpan();
  for (let pos = 0; pos < buf.length;) {
    pos = scanField(buf, pos, s);
    if (s.wire !== 2) continue;
    if (s.field === 1) model = utf8(buf, s);
    else if (s.field === 2) version = utf8(buf, s);
    else if (s.field === 3) id = utf8(buf, s);
    else if (s.field === 5) heads.push(outputHead(buf.subarray(s.start, s.end)));
    else if (s.field === 6) raws.push(buf.subarray(s.start, s.end));
  }
  if (raws.length !== heads.length) {
    // Triton and infergate always answer in raw_output_contents; typed `contents` are not read here.
    throw new InferenceError(
      Status.UNIMPLEMENTED,
      `response has ${heads.length} outputs but ${raws.length} raw_output_contents; this client reads raw_output_contents only`,
    );
  }
  return { model, version, id, outputs: heads.map((h, i) => outputTensor(h.name, h.datatype, h.shape, raws[i])) };
}

/** InferOutputTensor's name 1, datatype 2 and shape 3 (packed, or one varint per element). */
function outputHead(b: Buffer): { name: string; datatype: string; shape: number[] } {
  let name = '';
  let datatype = '';
  const shape: number[] = [];
  const s = newSpan();
  for (let pos = 0; pos < b.length;) {
    pos = scanField(b, pos, s);
    if (s.field === 3 && s.wire === 0) shape.push(s.varint);
    else if (s.wire !== 2) continue;
    else if (s.field === 1) name = utf8(b, s);
    else if (s.field === 2) datatype = utf8(b, s);
    else if (s.field === 3) {
      for (let p = s.start; p < s.end;) {
        const [d, next] = varint(b, p);
        shape.push(d);
        p = next;
      }
    }
  }
  return { name, datatype, shape };
}

/** ModelReadyResponse.ready (field 1). */
export function decodeReady(buf: Buffer): boolean {
  const s = newSpan();
  let ready = false;
  for (let pos = 0; pos < buf.length;) {
    pos = scanField(buf, pos, s);
    if (s.field === 1 && s.wire === 0) ready = s.varint !== 0;
  }
  return ready;
}
