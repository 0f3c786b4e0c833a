// The few protobuf wire operations the balancer's forwarding path (and the
// sidecar, to find the id of a message it cannot decode, and the bench
// harness, which never decodes more) needs, on bytes otherwise left alone: walk top-level fields (skipping each by
// its wire type, so a large tensor costs O(1)), find one length-delimited
// field, and append one (a decoder keeps the last occurrence of a singular
// field, so appending overrides without re-encoding).

/** Thrown for bytes that are not a well-formed protobuf message. */
export class MalformedRequest extends Error {}

/** One field as scanField found it. */
export interface FieldSpan {
  field: number;
  wire: number;
  /** Value bytes [start, end) for length-delimited fields; the varint's value for wire type 0. */
  start: number;
  end: number;
  varint: number;
}

/** A varint at pos: its value (exact up to 2^53) and the position after it. */
export function varint(buf: Uint8Array, pos: number): [value: number, next: number] {
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

/** Reads the field at pos into out and returns the position after it. Throws MalformedRequest. */
export function scanField(buf: Uint8Array, pos: number, out: FieldSpan): number {
  const [key, afterKey] = varint(buf, pos);
  out.field = Math.floor(key / 8);
  out.wire = key & 7;
  let next: number;
  switch (out.wire) {
    case 0:
      [out.varint, next] = varint(buf, afterKey);
      out.start = afterKey;
      break;
    case 1:
      next = afterKey + 8;
      break;
    case 5:
      next = afterKey + 4;
      break;
    case 2: {
      const [len, start] = varint(buf, afterKey);
      out.start = start;
      next = start + len;
      break;
    }
    default:
      throw new MalformedRequest(`unsupported wire type ${out.wire} for field ${out.field}`);
  }
  if (next > buf.length) throw new MalformedRequest(`field ${out.field} runs past the end of the message`);
  out.end = next;
  return next;
}

/** A fresh span for scanField. */
export const newSpan = (): FieldSpan => ({ field: 0, wire: 0, start: 0, end: 0, varint: 0 });

// Shared by lastBytesField: it never yields while scanning, so one span serves every call.
const span = newSpan();

/** The last occurrence of top-level length-delimited `field` (the one a decoder keeps), as a view into buf; undefined when absent. */
export function lastBytesField(buf: Buffer, field: number): Buffer | undefined {
  let found: Buffer | undefined;
  for (let pos = 0; pos < buf.length;) {
    pos = scanField(buf, pos, span);
    if (span.wire === 2 && span.field === field) found = buf.subarray(span.start, span.end);
  }
  return found;
}

/** lastBytesField, or undefined when buf is not a well-formed message: for bytes a peer sent that are read but not trusted. */
export function tryLastBytesField(buf: Buffer, field: number): Buffer | undefined {
  try {
    return lastBytesField(buf, field);
  } catch {
    return undefined;
  }
}

/** Tag + length prefix of a length-delimited field. */
function header(field: number, length: number): Buffer {
  const head: number[] = [];
  for (const v of [field * 8 + 2, length]) {
    let n = v;
    while (n > 0x7f) {
      head.push((n & 0x7f) | 0x80);
      n >>>= 7;
    }
    head.push(n);
  }
  return Buffer.from(head);
}

/** A length-delimited field holding value. */
export function bytesField(field: number, value: Buffer): Buffer {
  return Buffer.concat([header(field, value.length), value]);
}

/** A string field. */
export function stringField(field: number, value: string): Buffer {
  return bytesField(field, Buffer.from(value, 'utf8'));
}
