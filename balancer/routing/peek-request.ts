// Reads the routing fields of a serialized ModelInferRequest without
// decoding it: the balancer forwards the bytes untouched and needs only
// model_name (field 1) and model_version (field 2), and for shard keys one
// request parameter. Encoders write fields in number order, so model and
// version are usually in the first few bytes; we still walk the top-level
// fields (wire-fields.ts: O(1) per large tensor) because the protocol allows
// any order.
import { MalformedRequest, newSpan, scanField, varint } from '../../protocol/wire-fields';

export { MalformedRequest };

/** The routing fields of a request. */
export interface RequestRoute {
  readonly model: string;
  readonly version: string;
}

const utf8 = new TextDecoder();
// Scans never yield, so each function's span is reused across calls.
const routeSpan = newSpan();
const paramSpan = newSpan();
const entrySpan = newSpan();
const valueSpan = newSpan();

/**
 * model_name and model_version of a serialized ModelInferRequest ('' when absent). The last
 * occurrence wins, as in the sidecar's decoder, so we route on what the sidecar will read; the
 * whole walk is a few fields (tensors are skipped by length).
 */
export function peekRoute(buf: Uint8Array): RequestRoute {
  let model = '';
  let version = '';
  for (let pos = 0; pos < buf.length;) {
    pos = scanField(buf, pos, routeSpan);
    if (routeSpan.wire !== 2 || (routeSpan.field !== 1 && routeSpan.field !== 2)) continue;
    const s = utf8.decode(buf.subarray(routeSpan.start, routeSpan.end));
    if (routeSpan.field === 1) model = s;
    else version = s;
  }
  return { model, version };
}

/**
 * The request parameter `name` (ModelInferRequest.parameters, field 4, a map of
 * InferParameter) as text: string as is, integers in decimal, bool as
 * true/false; undefined when absent or a double. Throws MalformedRequest.
 */
export function peekParameter(buf: Uint8Array, name: string): string | undefined {
  let found: string | undefined;
  for (let pos = 0; pos < buf.length;) {
    pos = scanField(buf, pos, paramSpan);
    if (paramSpan.wire !== 2 || paramSpan.field !== 4) continue;
    const v = mapEntry(buf.subarray(paramSpan.start, paramSpan.end), name);
    if (v !== undefined) found = v;
  }
  return found;
}

/** A map<string, InferParameter> entry's value as text when its key is name. */
function mapEntry(entry: Uint8Array, name: string): string | undefined {
  let k: string | undefined;
  let v: Uint8Array | undefined;
  for (let pos = 0; pos < entry.length;) {
    pos = scanField(entry, pos, entrySpan);
    if (entrySpan.wire !== 2) throw new MalformedRequest('a parameters entry holds a non-message field');
    if (entrySpan.field === 1) k = utf8.decode(entry.subarray(entrySpan.start, entrySpan.end));
    else if (entrySpan.field === 2) v = entry.subarray(entrySpan.start, entrySpan.end);
  }
  return k === name && v ? parameterText(v) : undefined;
}

/** An InferParameter's value as text (bool_param 1, int64_param 2, string_param 3, uint64_param 5; double_param 4 gives none). */
function parameterText(buf: Uint8Array): string | undefined {
  let out: string | undefined;
  for (let pos = 0; pos < buf.length;) {
    pos = scanField(buf, pos, valueSpan);
    if (valueSpan.wire === 0) {
      const text = varintText(buf, valueSpan.start);
      out = valueSpan.field === 1 ? (text === '0' ? 'false' : 'true') : text;
    } else if (valueSpan.wire === 2 && valueSpan.field === 3) out = utf8.decode(buf.subarray(valueSpan.start, valueSpan.end));
  }
  return out;
}

/** An unsigned varint's exact value in decimal: int64 keys past 2^53 stay distinct (negatives read as their 64 bits, still one key each). */
function varintText(buf: Uint8Array, pos: number): string {
  varint(buf, pos); // bounds and termination checked once
  let value = 0n;
  let shift = 0n;
  for (let i = pos; ; i++) {
    value |= BigInt(buf[i] & 0x7f) << shift;
    if (buf[i] < 0x80) return value.toString();
    shift += 7n;
  }
}
