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
