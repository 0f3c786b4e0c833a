// The few protobuf wire operations the balancer's forwarding path needs, on
// bytes it otherwise leaves alone: append a length-delimited field (the last
// occurrence of a singular field wins when decoded, so appending overrides
// without re-encoding) and find one top-level length-delimited field.
import { MalformedRequest } from './peek-request';

/** Tag + length prefix of a length-delimited field. */
function header(field: number, length: number): Buffer {
  const head: number[] = [];
  let key = field * 8 + 2;
  while (key > 0x7f) {
    head.push((key & 0x7f) | 0x80);
    key >>>= 7;
  }
  head.push(key);
  let len = length;
  while (len > 0x7f) {
    head.push((len & 0x7f) | 0x80);
    len >>>= 7;
  }
  head.push(len);
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

function varint(buf: Uint8Array, pos: number): [value: number, next: number] {
  let value = 0;
  let shift = 0;
  for (let i = pos; i < buf.length && i < pos + 10; i++) {
    const b = buf[i];
    value += (b & 0x7f) * 2 ** shift;
    if (b < 0x80) return [value, i + 1];
    shift += 7;
  }
  throw new MalformedRequest('truncated varint');
}

/**
 * The last occurrence of top-level length-delimited `field` in a message (the
 * one a decoder keeps), as a view into buf; undefined when absent. Throws
 * MalformedRequest for bytes that are not a protobuf message.
 */
export function lastBytesField(buf: Buffer, field: number): Buffer | undefined {
  let found: Buffer | undefined;
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
      if (Math.floor(key / 8) === field) found = buf.subarray(start, pos);
    } else throw new MalformedRequest(`unsupported wire type ${wire} for field ${Math.floor(key / 8)}`);
  }
  if (pos > buf.length) throw new MalformedRequest('message truncated');
  return found;
}
