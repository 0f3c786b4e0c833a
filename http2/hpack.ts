// HPACK (RFC 7541) for the balancer's own HTTP/2 server (session.ts). The
// decoder runs once per request on the hot path, so it works on byte offsets
// into the caller's buffer, reuses the strings already held by the static and
// dynamic tables for indexed fields (nghttp2 and grpc-js clients index nearly
// every field after the first request), and allocates only the strings of
// literals. The encoder keeps no state so a response block can be built once
// and written many times.
import { HUFFMAN_CODES, huffmanDecode, latin1 } from './hpack-huffman';

export { HUFFMAN_CODES };

/** A malformed header block: the connection must end with COMPRESSION_ERROR. */
export class HpackError extends Error {
  override readonly name = 'HpackError';
}

const STATIC_TABLE: readonly (readonly [string, string])[] = [
  ['', ''], // index 0 is never valid; the filler keeps indices 1-based
  [':authority', ''],
  [':method', 'GET'],
  [':method', 'POST'],
  [':path', '/'],
  [':path', '/index.html'],
  [':scheme', 'http'],
  [':scheme', 'https'],
  [':status', '200'],
  [':status', '204'],
  [':status', '206'],
  [':status', '304'],
  [':status', '400'],
  [':status', '404'],
  [':status', '500'],
  ['accept-charset', ''],
  ['accept-encoding', 'gzip, deflate'],
  ['accept-language', ''],
  ['accept-ranges', ''],
  ['accept', ''],
  ['access-control-allow-origin', ''],
  ['age', ''],
  ['allow', ''],
  ['authorization', ''],
  ['cache-control', ''],
  ['content-disposition', ''],
  ['content-encoding', ''],
  ['content-language', ''],
  ['content-length', ''],
  ['content-location', ''],
  ['content-range', ''],
  ['content-type', ''],
  ['cookie', ''],
  ['date', ''],
  ['etag', ''],
  ['expect', ''],
  ['expires', ''],
  ['from', ''],
  ['host', ''],
  ['if-match', ''],
  ['if-modified-since', ''],
  ['if-none-match', ''],
  ['if-range', ''],
  ['if-unmodified-since', ''],
  ['last-modified', ''],
  ['link', ''],
  ['location', ''],
  ['max-forwards', ''],
  ['proxy-authenticate', ''],
  ['proxy-authorization', ''],
  ['range', ''],
  ['referer', ''],
  ['refresh', ''],
  ['retry-after', ''],
  ['server', ''],
  ['set-cookie', ''],
  ['strict-transport-security', ''],
  ['transfer-encoding', ''],
  ['user-agent', ''],
  ['vary', ''],
  ['via', ''],
  ['www-authenticate', ''],
];
const STATIC_COUNT = 61;
// Split into two flat arrays so an indexed field costs two element loads, not a tuple dereference.
const STATIC_NAMES = STATIC_TABLE.map((e) => e[0]);
const STATIC_VALUES = STATIC_TABLE.map((e) => e[1]);
const ENTRY_OVERHEAD = 32;
const MAX_INT = 0x7fffffff;

/** A Huffman string literal (5.2), or HpackError. */
function huffmanString(src: Buffer, start: number, end: number): string {
  const str = huffmanDecode(src, start, end);
  if (str === undefined) throw new HpackError('bad Huffman string: EOS in it, or padding over 7 bits or not all ones');
  return str;
}

// nghttp2 (so node:http2 and grpc-js clients) never adds :path to the dynamic table, so every request
// carries its path as a literal, nearly always one of a few method paths. A direct-mapped memo from the
// literal's encoded bytes to its string skips the Huffman decode and the allocation, and hands the
// router the same string each time (its hash already computed for Map lookups). Shared by all
// decoders: it maps bytes to the string they decode to, which is the same on every connection.
const MEMO_SLOTS = 64;
const MEMO_MAX = 128; // encoded bytes; longer paths are decoded every time
const memoBytes = new Uint8Array(MEMO_SLOTS * MEMO_MAX);
const memoKeys = new Int32Array(MEMO_SLOTS).fill(-1); // encoded length | Huffman flag (0x80) << 8
const memoStrings = new Array<string>(MEMO_SLOTS).fill('');

function memoString(src: Buffer, s: number, len: number, huffman: number): string {
  let h = 0x811c9dc5;
  for (let i = s; i < s + len; i++) h = Math.imul(h ^ src[i], 0x01000193); // FNV-1a
  const slot = (h ^ (h >>> 16)) & (MEMO_SLOTS - 1);
  const key = len | (huffman << 8);
  const base = slot * MEMO_MAX;
  if (memoKeys[slot] === key) {
    let i = 0;
    while (i < len && memoBytes[base + i] === src[s + i]) i++;
    if (i === len) return memoStrings[slot];
  }
  const str = huffman ? huffmanString(src, s, s + len) : latin1(src, s, len);
  for (let i = 0; i < len; i++) memoBytes[base + i] = src[s + i]; // only after a clean decode
  memoKeys[slot] = key;
  memoStrings[slot] = str;
  return str;
}

export class HpackDecoder {
  private readonly maxTableSize: number;
  /** The size the peer last set with a dynamic table size update (starts at what we advertised). */
  private capacity: number;
  private size = 0;
  // The dynamic table as a ring: slot `head` holds index 62, `head - 1` index 63, and so on.
  private names: string[];
  private values: string[];
  private mask: number;
  private head = 0;
  private count = 0;
  /** Read cursor of the block being decoded; a field so helpers can advance it without returning pairs. */
  private pos = 0;
  private end = 0;

  /** maxTableSize: the SETTINGS_HEADER_TABLE_SIZE this side advertised (default 4096). */
  constructor(maxTableSize = 4096) {
    if (!(maxTableSize >= 0 && maxTableSize <= MAX_INT)) throw new RangeError(`bad HPACK table size ${maxTableSize}`);
    this.maxTableSize = this.capacity = maxTableSize;
    // Most peers fill a fraction of the table, so start small and let insert() grow the ring.
    const slots = Math.min(32, 1 << Math.ceil(Math.log2(Math.max(2, maxTableSize / ENTRY_OVERHEAD))));
    this.names = new Array<string>(slots).fill('');
    this.values = new Array<string>(slots).fill('');
    this.mask = slots - 1;
  }

  /**
   * Decodes one complete header block from block[start, end), appending name, value, ... to `out`.
   * Throws HpackError on anything malformed, or when the sum of (name + value + 32) over fields exceeds maxListSize.
   */
  decode(block: Buffer, start: number, end: number, out: string[], maxListSize: number): void {
    if (start < 0 || end > block.length || start > end) throw new RangeError(`bad block range [${start}, ${end})`);
    this.pos = start;
    this.end = end;
    let listSize = 0;
    let sawField = false;
    while (this.pos < end) {
      const b = block[this.pos];
      let name: string;
      let value: string;
      if (b & 0x80) {
        // 6.1 indexed field
        let index = b & 0x7f;
        if (index === 0x7f) index = this.readInt(block, 0x7f);
        else this.pos++;
        if (index === 0) throw new HpackError('index 0');
        if (index <= STATIC_COUNT) {
          name = STATIC_NAMES[index];
          value = STATIC_VALUES[index];
        } else {
          const slot = this.slot(index);
          name = this.names[slot];
          value = this.values[slot];
        }
      } else if (b & 0x40) {
        // 6.2.1 literal with incremental indexing
        const index = this.readInt(block, 0x3f);
        name = index === 0 ? this.readString(block) : this.nameAt(index);
        value = this.readString(block);
        this.insert(name, value);
      } else if (b & 0x20) {
        // 6.3 dynamic table size update
        if (sawField) throw new HpackError('dynamic table size update after a field');
        const size = this.readInt(block, 0x1f);
        if (size > this.maxTableSize) throw new HpackError(`dynamic table size ${size} over the advertised ${this.maxTableSize}`);
        this.capacity = size;
        this.evictTo(size);
        continue;
      } else {
        // 6.2.2 without indexing, 6.2.3 never indexed: the same to a decoder that passes fields on
        const index = this.readInt(block, 0x0f);
        name = index === 0 ? this.readString(block) : this.nameAt(index);
        value = this.readString(block, index === 4 || index === 5); // :path
      }
      sawField = true;
      listSize += name.length + value.length + ENTRY_OVERHEAD;
      if (listSize > maxListSize) throw new HpackError(`header list over ${maxListSize} bytes`);
      out.push(name, value);
    }
  }

  /** Ring slot of a dynamic table index (62 and up). */
  private slot(index: number): number {
    const i = index - STATIC_COUNT - 1;
    if (i >= this.count) throw new HpackError(`index ${index} past the table (${STATIC_COUNT + this.count} entries)`);
    return (this.head - i) & this.mask;
  }

  private nameAt(index: number): string {
    return index <= STATIC_COUNT ? STATIC_NAMES[index] : this.names[this.slot(index)];
  }

  /** An N-bit prefix integer (5.1) at this.pos; `mask` is 2^N - 1. */
  private readInt(block: Buffer, mask: number): number {
    let p = this.pos;
    let v = block[p++] & mask;
    if (v === mask) {
      // Numbers, not int32 bit ops: five 7-bit groups overflow 32 bits before the range check catches it.
      let scale = 1;
      for (let groups = 0; ; groups++) {
        if (p >= this.end) throw new HpackError('truncated integer');
        if (groups === 5) throw new HpackError('integer over 5 continuation bytes');
        const c = block[p++];
        v += (c & 0x7f) * scale;
        if (!(c & 0x80)) break;
        scale *= 128;
      }
      if (v > MAX_INT) throw new HpackError(`integer ${v} over 2^31 - 1`);
    }
    this.pos = p;
    return v;
  }

  /** A string literal (5.2) at this.pos; `memo`: look it up in (and add it to) the :path memo. */
  private readString(block: Buffer, memo = false): string {
    if (this.pos >= this.end) throw new HpackError('truncated header block');
    const huffman = block[this.pos] & 0x80;
    const len = this.readInt(block, 0x7f);
    const s = this.pos;
    if (len > this.end - s) throw new HpackError(`string of ${len} bytes past the block end`);
    this.pos = s + len;
    if (memo && len <= MEMO_MAX) return memoString(block, s, len, huffman);
    return huffman ? huffmanString(block, s, s + len) : latin1(block, s, len);
  }

  /** Adds an entry at index 62 (4.4): evicts from the oldest end, or empties the table for an entry over capacity. */
  private insert(name: string, value: string): void {
    const entry = name.length + value.length + ENTRY_OVERHEAD;
    if (entry > this.capacity) {
      this.evictTo(0);
      return;
    }
    this.evictTo(this.capacity - entry);
    if (this.count === this.names.length) this.grow();
    this.head = (this.head + 1) & this.mask;
    this.names[this.head] = name;
    this.values[this.head] = value;
    this.count++;
    this.size += entry;
  }

  private evictTo(size: number): void {
    while (this.size > size) {
      const slot = (this.head - this.count + 1) & this.mask;
      this.size -= this.names[slot].length + this.values[slot].length + ENTRY_OVERHEAD;
      // Drop the references so evicted strings can be collected.
      this.names[slot] = this.values[slot] = '';
      this.count--;
    }
  }

  /** Doubles the ring, moving entries so the oldest lands at slot 0 and the newest at count - 1. */
  private grow(): void {
    const n = this.names.length * 2;
    const names = new Array<string>(n).fill('');
    const values = new Array<string>(n).fill('');
    for (let i = 0; i < this.count; i++) {
      const from = (this.head - this.count + 1 + i) & this.mask;
      names[i] = this.names[from];
      values[i] = this.values[from];
    }
    this.names = names;
    this.values = values;
    this.mask = n - 1;
    this.head = this.count - 1;
  }
}

// Encoder lookups: the first static index of each name, and name -> value -> index for exact matches.
const STATIC_NAME_INDEX = new Map<string, number>();
const STATIC_EXACT = new Map<string, Map<string, number>>();
for (let i = STATIC_COUNT; i >= 1; i--) {
  const [name, value] = STATIC_TABLE[i];
  STATIC_NAME_INDEX.set(name, i);
  let values = STATIC_EXACT.get(name);
  if (!values) STATIC_EXACT.set(name, (values = new Map()));
  values.set(value, i);
}

function writeInt(buf: Buffer, off: number, v: number, prefixBits: number, high: number): number {
  const max = (1 << prefixBits) - 1;
  if (v < max) {
    buf[off] = high | v;
    return off + 1;
  }
  buf[off++] = high | max;
  v -= max;
  while (v >= 0x80) {
    buf[off++] = (v & 0x7f) | 0x80;
    v >>>= 7;
  }
  buf[off] = v;
  return off + 1;
}

let encodeScratch = Buffer.allocUnsafe(1024);

/**
 * Encodes fields [name, value, name, value...] as literals without indexing (6.2.2), naming static table
 * entries by index, and exact static matches as indexed fields (6.1). No Huffman and no dynamic table, so
 * the block depends on nothing but `fields` and may be reused. Strings are written as latin1: callers must
 * pass names and values whose characters are all below 0x100.
 */
export function encodeHeaders(fields: readonly string[]): Buffer {
  if (fields.length % 2 !== 0) throw new TypeError('encodeHeaders: fields must be name, value pairs');
  let most = 0;
  for (let i = 0; i < fields.length; i++) most += fields[i].length + 6; // 5 integer bytes + a representation byte
  if (encodeScratch.length < most) encodeScratch = Buffer.allocUnsafe(Math.max(most, encodeScratch.length * 2));
  const buf = encodeScratch;
  let off = 0;
  for (let i = 0; i < fields.length; i += 2) {
    const name = fields[i];
    const value = fields[i + 1];
    const exact = STATIC_EXACT.get(name)?.get(value);
    if (exact !== undefined) {
      buf[off++] = 0x80 | exact;
      continue;
    }
    const index = STATIC_NAME_INDEX.get(name);
    if (index !== undefined) off = writeInt(buf, off, index, 4, 0x00);
    else {
      buf[off++] = 0x00;
      off = writeInt(buf, off, name.length, 7, 0x00);
      off += buf.write(name, off, 'latin1');
    }
    off = writeInt(buf, off, value.length, 7, 0x00);
    off += buf.write(value, off, 'latin1');
  }
  const block = Buffer.allocUnsafe(off);
  buf.copy(block, 0, 0, off);
  return block;
}
