// The little protobuf the harness touches on bytes it otherwise leaves
// alone: append a length-delimited field (a decoder keeps the last
// occurrence of a singular field, so appending overrides without
// re-encoding), and find one field by walking the top-level fields, skipping
// each by its wire type so a large tensor costs nothing. Responses are never
// decoded beyond this.

/** A varint at pos: [value, position after]; throws on truncation. */
function varint(buf: Uint8Array, pos: number): [number, number] {
  let value = 0;
  for (let i = pos, shift = 0; i < buf.length && i < pos + 10; i++, shift += 7) {
    const b = buf[i];
    value += (b & 0x7f) * 2 ** shift; // not <<: exact past 2^31
    if (b < 0x80) return [value, i + 1];
  }
  throw new Error('truncated varint');
}

/** Bytes of a varint. */
function varintBytes(n: number): number[] {
  const out: number[] = [];
  while (n >= 0x80) {
    out.push((n % 0x80) | 0x80);
    n = Math.floor(n / 0x80);
  }
  out.push(n);
  return out;
}

/** Field `field` (wire type 2) holding `value`, encoded. */
export function lengthDelimited(field: number, value: Buffer): Buffer {
  return Buffer.concat([Buffer.from([...varintBytes(field * 8 + 2), ...varintBytes(value.length)]), value]);
}

/** The last top-level length-delimited occurrence of `field`, as a view into buf; undefined when absent or malformed. */
export function lastField(buf: Buffer, field: number): Buffer | undefined {
  let found: Buffer | undefined;
  try {
    for (let pos = 0; pos < buf.length;) {
      const [key, p] = varint(buf, pos);
      const wire = key & 7;
      if (wire === 0) pos = varint(buf, p)[1];
      else if (wire === 1) pos = p + 8;
      else if (wire === 5) pos = p + 4;
      else if (wire === 2) {
        const [len, start] = varint(buf, p);
        pos = start + len;
        if (pos > buf.length) return found;
        if (key >>> 3 === field) found = buf.subarray(start, pos);
      } else return found;
    }
  } catch {
    // A truncated tail: keep what was found before it.
  }
  return found;
}

/** What the harness reads from a ModelStreamInferResponse. */
export interface StreamAnswer {
  /** error_message (field 1) when non-empty. */
  readonly error: string | undefined;
  /** infer_response.id (field 2 → 3), the correlation key; undefined when absent. */
  readonly id: Buffer | undefined;
}

/** error_message and infer_response.id of a ModelStreamInferResponse. */
export function readStreamAnswer(msg: Buffer): StreamAnswer {
  const err = lastField(msg, 1);
  const inner = lastField(msg, 2);
  return { error: err && err.length > 0 ? err.toString('utf8') : undefined, id: inner && lastField(inner, 3) };
}

const STATUS_PREFIX = /^\[([A-Z_]+)\]/;

/** The status name of a stream error_message: the '[UNAVAILABLE] ...' prefix our sidecar and balancer write, else 'UNKNOWN' (Triton writes bare text). */
export function streamErrorStatus(message: string): string {
  return STATUS_PREFIX.exec(message)?.[1] ?? 'UNKNOWN';
}
