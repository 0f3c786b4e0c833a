// Reads the routing fields of a serialized ModelInferRequest without
// decoding it: the balancer forwards the bytes untouched and needs only
// model_name (field 1) and model_version (field 2). Encoders write fields in
// number order, so both are usually in the first few bytes; we still walk the
// top-level fields (skipping each by its wire type, O(1) for the large
// length-delimited tensors) because the protocol allows any order.

/** The routing fields of a request. */
export interface RequestRoute {
  readonly model: string;
  readonly version: string;
}

const utf8 = new TextDecoder();

/** Thrown for bytes that are not a well-formed protobuf message. */
export class MalformedRequest extends Error {}

function varint(buf: Uint8Array, pos: number): [value: number, next: number] {
  let value = 0;
  let shift = 0;
  for (let i = pos; i < buf.length && i < pos + 10; i++) {
    const b = buf[i];
    // Multiplication, not <<, so values past 2^31 stay exact (up to 2^53).
    value += (b & 0x7f) * 2 ** shift;
    if (b < 0x80) return [value, i + 1];
    shift += 7;
  }
  throw new MalformedRequest('truncated varint');
}

/** model_name and model_version of a serialized ModelInferRequest ('' when absent). */
export function peekRoute(buf: Uint8Array): RequestRoute {
  let model = '';
  let version = '';
  let found = 0;
  let pos = 0;
  while (pos < buf.length && found < 2) {
    const [key, afterKey] = varint(buf, pos);
    const field = Math.floor(key / 8);
    const wire = key & 7;
    pos = afterKey;
    switch (wire) {
      case 0:
        pos = varint(buf, pos)[1];
        break;
      case 1:
        pos += 8;
        break;
      case 5:
        pos += 4;
        break;
      case 2: {
        const [len, start] = varint(buf, pos);
        const end = start + len;
        if (end > buf.length) throw new MalformedRequest(`field ${field} runs past the end of the message`);
        if (field === 1 || field === 2) {
          const s = utf8.decode(buf.subarray(start, end));
          if (field === 1) model = s;
          else version = s;
          found++;
        }
        pos = end;
        break;
      }
      default:
        throw new MalformedRequest(`unsupported wire type ${wire} for field ${field}`);
    }
  }
  if (pos > buf.length) throw new MalformedRequest('message truncated');
  return { model, version };
}

/** An unsigned varint's exact value as a decimal string (int64 keys past 2^53 stay distinct). */
function varintText(buf: Uint8Array, pos: number): [text: string, next: number] {
  let value = 0n;
  let shift = 0n;
  for (let i = pos; i < buf.length && i < pos + 10; i++) {
    value |= BigInt(buf[i] & 0x7f) << shift;
    if (buf[i] < 0x80) return [value.toString(), i + 1];
    shift += 7n;
  }
  throw new MalformedRequest('truncated varint');
}

/** The value of an InferParameter message as text: string as is, integers in decimal, bool as true/false; undefined for double or empty. */
function parameterText(buf: Uint8Array): string | undefined {
  let out: string | undefined;
  let pos = 0;
  while (pos < buf.length) {
    const [key, afterKey] = varint(buf, pos);
    const field = Math.floor(key / 8);
    const wire = key & 7;
    pos = afterKey;
    if (wire === 0) {
      const [text, next] = varintText(buf, pos);
      // bool_param 1, int64_param 2, uint64_param 5; int64 negatives read as their two's-complement bits, still one key each.
      out = field === 1 ? (text === '0' ? 'false' : 'true') : text;
      pos = next;
    } else if (wire === 2) {
      const [len, start] = varint(buf, pos);
      pos = start + len;
      if (pos > buf.length) throw new MalformedRequest('parameter value runs past its entry');
      if (field === 3) out = utf8.decode(buf.subarray(start, pos));
    } else if (wire === 1) pos += 8;
    else if (wire === 5) pos += 4;
    else throw new MalformedRequest(`unsupported wire type ${wire} in a parameter`);
  }
  return out;
}

/**
 * The request parameter `name` (ModelInferRequest.parameters, field 4, a map of
 * InferParameter) as text, for shard keys; undefined when absent. Only the
 * small parameter entries are read; tensors are skipped by length.
 */
export function peekParameter(buf: Uint8Array, name: string): string | undefined {
  let found: string | undefined;
  let pos = 0;
  while (pos < buf.length) {
    const [key, afterKey] = varint(buf, pos);
    const wire = key & 7;
    pos = afterKey;
    if (wire === 0) pos = varint(buf, pos)[1];
    else if (wire === 1) pos += 8;
    else if (wire === 5) pos += 4;
    else if (wire === 2) {
      const [len, start] = varint(buf, pos);
      pos = start + len;
      if (pos > buf.length) throw new MalformedRequest(`field ${Math.floor(key / 8)} runs past the end of the message`);
      if (Math.floor(key / 8) === 4) {
        const v = mapEntry(buf.subarray(start, pos), name);
        if (v !== undefined) found = v;
      }
    } else throw new MalformedRequest(`unsupported wire type ${wire} for field ${Math.floor(key / 8)}`);
  }
  return found;
}

/** A map<string, InferParameter> entry's value as text when its key is name. */
function mapEntry(entry: Uint8Array, name: string): string | undefined {
  let k: string | undefined;
  let v: Uint8Array | undefined;
  let pos = 0;
  while (pos < entry.length) {
    const [key, afterKey] = varint(entry, pos);
    pos = afterKey;
    if ((key & 7) !== 2) throw new MalformedRequest('a parameters entry holds a non-message field');
    const [len, start] = varint(entry, pos);
    pos = start + len;
    if (pos > entry.length) throw new MalformedRequest('a parameters entry runs past its end');
    if (key >> 3 === 1) k = utf8.decode(entry.subarray(start, pos));
    else if (key >> 3 === 2) v = entry.subarray(start, pos);
  }
  return k === name && v ? parameterText(v) : undefined;
}
