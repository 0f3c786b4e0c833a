// The HPACK Huffman code (RFC 7541 Appendix B) and its decoder, for hpack.ts;
// also the latin1 bytes-to-string helper both use.

// [code, bit length] for symbols 0..255 and EOS (256), the code right-aligned in
// the number as the RFC prints it in its hex column. The code is canonical (codes
// of one length are consecutive in symbol order), which test/http2/hpack.test.ts checks
// as a guard against a mistyped row.
export const HUFFMAN_CODES: readonly (readonly [code: number, bits: number])[] = [
  [0x1ff8, 13],
  [0x7fffd8, 23],
  [0xfffffe2, 28],
  [0xfffffe3, 28], // 0-3
  [0xfffffe4, 28],
  [0xfffffe5, 28],
  [0xfffffe6, 28],
  [0xfffffe7, 28], // 4-7
  [0xfffffe8, 28],
  [0xffffea, 24],
  [0x3ffffffc, 30],
  [0xfffffe9, 28], // 8-11
  [0xfffffea, 28],
  [0x3ffffffd, 30],
  [0xfffffeb, 28],
  [0xfffffec, 28], // 12-15
  [0xfffffed, 28],
  [0xfffffee, 28],
  [0xfffffef, 28],
  [0xffffff0, 28], // 16-19
  [0xffffff1, 28],
  [0xffffff2, 28],
  [0x3ffffffe, 30],
  [0xffffff3, 28], // 20-23
  [0xffffff4, 28],
  [0xffffff5, 28],
  [0xffffff6, 28],
  [0xffffff7, 28], // 24-27
  [0xffffff8, 28],
  [0xffffff9, 28],
  [0xffffffa, 28],
  [0xffffffb, 28], // 28-31
  [0x14, 6],
  [0x3f8, 10],
  [0x3f9, 10],
  [0xffa, 12], // ' ' ! " #
  [0x1ff9, 13],
  [0x15, 6],
  [0xf8, 8],
  [0x7fa, 11], // $ % & '
  [0x3fa, 10],
  [0x3fb, 10],
  [0xf9, 8],
  [0x7fb, 11], // ( ) * +
  [0xfa, 8],
  [0x16, 6],
  [0x17, 6],
  [0x18, 6], // , - . /
  [0x0, 5],
  [0x1, 5],
  [0x2, 5],
  [0x19, 6], // 0 1 2 3
  [0x1a, 6],
  [0x1b, 6],
  [0x1c, 6],
  [0x1d, 6], // 4 5 6 7
  [0x1e, 6],
  [0x1f, 6],
  [0x5c, 7],
  [0xfb, 8], // 8 9 : ;
  [0x7ffc, 15],
  [0x20, 6],
  [0xffb, 12],
  [0x3fc, 10], // < = > ?
  [0x1ffa, 13],
  [0x21, 6],
  [0x5d, 7],
  [0x5e, 7], // @ A B C
  [0x5f, 7],
  [0x60, 7],
  [0x61, 7],
  [0x62, 7], // D E F G
  [0x63, 7],
  [0x64, 7],
  [0x65, 7],
  [0x66, 7], // H I J K
  [0x67, 7],
  [0x68, 7],
  [0x69, 7],
  [0x6a, 7], // L M N O
  [0x6b, 7],
  [0x6c, 7],
  [0x6d, 7],
  [0x6e, 7], // P Q R S
  [0x6f, 7],
  [0x70, 7],
  [0x71, 7],
  [0x72, 7], // T U V W
  [0xfc, 8],
  [0x73, 7],
  [0xfd, 8],
  [0x1ffb, 13], // X Y Z [
  [0x7fff0, 19],
  [0x1ffc, 13],
  [0x3ffc, 14],
  [0x22, 6], // \ ] ^ _
  [0x7ffd, 15],
  [0x3, 5],
  [0x23, 6],
  [0x4, 5], // ` a b c
  [0x24, 6],
  [0x5, 5],
  [0x25, 6],
  [0x26, 6], // d e f g
  [0x27, 6],
  [0x6, 5],
  [0x74, 7],
  [0x75, 7], // h i j k
  [0x28, 6],
  [0x29, 6],
  [0x2a, 6],
  [0x7, 5], // l m n o
  [0x2b, 6],
  [0x76, 7],
  [0x2c, 6],
  [0x8, 5], // p q r s
  [0x9, 5],
  [0x2d, 6],
  [0x77, 7],
  [0x78, 7], // t u v w
  [0x79, 7],
  [0x7a, 7],
  [0x7b, 7],
  [0x7ffe, 15], // x y z {
  [0x7fc, 11],
  [0x3ffd, 14],
  [0x1ffd, 13],
  [0xffffffc, 28], // | } ~ DEL
  [0xfffe6, 20],
  [0x3fffd2, 22],
  [0xfffe7, 20],
  [0xfffe8, 20], // 128-131
  [0x3fffd3, 22],
  [0x3fffd4, 22],
  [0x3fffd5, 22],
  [0x7fffd9, 23], // 132-135
  [0x3fffd6, 22],
  [0x7fffda, 23],
  [0x7fffdb, 23],
  [0x7fffdc, 23], // 136-139
  [0x7fffdd, 23],
  [0x7fffde, 23],
  [0xffffeb, 24],
  [0x7fffdf, 23], // 140-143
  [0xffffec, 24],
  [0xffffed, 24],
  [0x3fffd7, 22],
  [0x7fffe0, 23], // 144-147
  [0xffffee, 24],
  [0x7fffe1, 23],
  [0x7fffe2, 23],
  [0x7fffe3, 23], // 148-151
  [0x7fffe4, 23],
  [0x1fffdc, 21],
  [0x3fffd8, 22],
  [0x7fffe5, 23], // 152-155
  [0x3fffd9, 22],
  [0x7fffe6, 23],
  [0x7fffe7, 23],
  [0xffffef, 24], // 156-159
  [0x3fffda, 22],
  [0x1fffdd, 21],
  [0xfffe9, 20],
  [0x3fffdb, 22], // 160-163
  [0x3fffdc, 22],
  [0x7fffe8, 23],
  [0x7fffe9, 23],
  [0x1fffde, 21], // 164-167
  [0x7fffea, 23],
  [0x3fffdd, 22],
  [0x3fffde, 22],
  [0xfffff0, 24], // 168-171
  [0x1fffdf, 21],
  [0x3fffdf, 22],
  [0x7fffeb, 23],
  [0x7fffec, 23], // 172-175
  [0x1fffe0, 21],
  [0x1fffe1, 21],
  [0x3fffe0, 22],
  [0x1fffe2, 21], // 176-179
  [0x7fffed, 23],
  [0x3fffe1, 22],
  [0x7fffee, 23],
  [0x7fffef, 23], // 180-183
  [0xfffea, 20],
  [0x3fffe2, 22],
  [0x3fffe3, 22],
  [0x3fffe4, 22], // 184-187
  [0x7ffff0, 23],
  [0x3fffe5, 22],
  [0x3fffe6, 22],
  [0x7ffff1, 23], // 188-191
  [0x3ffffe0, 26],
  [0x3ffffe1, 26],
  [0xfffeb, 20],
  [0x7fff1, 19], // 192-195
  [0x3fffe7, 22],
  [0x7ffff2, 23],
  [0x3fffe8, 22],
  [0x1ffffec, 25], // 196-199
  [0x3ffffe2, 26],
  [0x3ffffe3, 26],
  [0x3ffffe4, 26],
  [0x7ffffde, 27], // 200-203
  [0x7ffffdf, 27],
  [0x3ffffe5, 26],
  [0xfffff1, 24],
  [0x1ffffed, 25], // 204-207
  [0x7fff2, 19],
  [0x1fffe3, 21],
  [0x3ffffe6, 26],
  [0x7ffffe0, 27], // 208-211
  [0x7ffffe1, 27],
  [0x3ffffe7, 26],
  [0x7ffffe2, 27],
  [0xfffff2, 24], // 212-215
  [0x1fffe4, 21],
  [0x1fffe5, 21],
  [0x3ffffe8, 26],
  [0x3ffffe9, 26], // 216-219
  [0xffffffd, 28],
  [0x7ffffe3, 27],
  [0x7ffffe4, 27],
  [0x7ffffe5, 27], // 220-223
  [0xfffec, 20],
  [0xfffff3, 24],
  [0xfffed, 20],
  [0x1fffe6, 21], // 224-227
  [0x3fffe9, 22],
  [0x1fffe7, 21],
  [0x1fffe8, 21],
  [0x7ffff3, 23], // 228-231
  [0x3fffea, 22],
  [0x3fffeb, 22],
  [0x1ffffee, 25],
  [0x1ffffef, 25], // 232-235
  [0xfffff4, 24],
  [0xfffff5, 24],
  [0x3ffffea, 26],
  [0x7ffff4, 23], // 236-239
  [0x3ffffeb, 26],
  [0x7ffffe6, 27],
  [0x3ffffec, 26],
  [0x3ffffed, 26], // 240-243
  [0x7ffffe7, 27],
  [0x7ffffe8, 27],
  [0x7ffffe9, 27],
  [0x7ffffea, 27], // 244-247
  [0x7ffffeb, 27],
  [0xffffffe, 28],
  [0x7ffffec, 27],
  [0x7ffffed, 27], // 248-251
  [0x7ffffee, 27],
  [0x7ffffef, 27],
  [0x7fffff0, 27],
  [0x3ffffee, 26], // 252-255
  [0x3fffffff, 30], // EOS
];

// Huffman decoding walks the code tree a byte at a time: states are the tree's
// 256 internal nodes, and one table row per state and input byte gives the next
// state, the symbols completed on the way (at most two, as no code is shorter
// than 5 bits), and whether the string may end there. 256 x 256 int32 = 256 KiB,
// built once at load; a nibble-wide table is 16 times smaller but takes two
// dependent lookups per byte, which measured about twice as slow.
const HUFF_COUNT_SHIFT = 24; // bits 24-25: symbols emitted; bits 8-15 and 16-23: the symbols
const HUFF_ACCEPT = 1 << 26;
const HUFF_FAIL = 1 << 27;
const HUFF_TABLE = buildHuffmanTable();

function buildHuffmanTable(): Int32Array {
  const kids = new Int32Array(512); // [node * 2 + bit]: 0 none, > 0 internal node, < 0 leaf -(symbol + 1)
  // Depth of a node on the all-ones path from the root, else -1: ending there is valid EOS padding when <= 7.
  const ones = new Int8Array(256).fill(-1);
  ones[0] = 0;
  let nodes = 1;
  HUFFMAN_CODES.forEach(([code, bits], sym) => {
    let n = 0;
    for (let i = bits - 1; i > 0; i--) {
      const bit = (code >>> i) & 1;
      let k = kids[n * 2 + bit];
      if (k < 0) throw new Error(`Huffman code of ${sym} runs through a leaf`);
      if (k === 0) {
        k = kids[n * 2 + bit] = nodes++;
        if (bit === 1 && ones[n] >= 0) ones[k] = ones[n] + 1;
      }
      n = k;
    }
    if (kids[n * 2 + (code & 1)] !== 0) throw new Error(`Huffman code of ${sym} collides`);
    kids[n * 2 + (code & 1)] = -(sym + 1);
  });
  if (nodes !== 256) throw new Error(`Huffman tree has ${nodes} internal nodes, want 256`);
  const table = new Int32Array(256 * 256);
  for (let state = 0; state < 256; state++) {
    for (let byte = 0; byte < 256; byte++) {
      let n = state;
      let entry = 0;
      let count = 0;
      for (let i = 7; i >= 0; i--) {
        const k = kids[n * 2 + ((byte >> i) & 1)];
        if (k === 0) throw new Error('Huffman code is incomplete');
        n = k > 0 ? k : 0;
        if (k > 0) continue;
        if (k === -257) {
          entry = HUFF_FAIL;
          count = 0;
          break;
        } // EOS inside a string
        entry |= (-k - 1) << (8 + 8 * count++);
      }
      if (!(entry & HUFF_FAIL) && ones[n] >= 0 && ones[n] <= 7) entry |= HUFF_ACCEPT;
      table[state * 256 + byte] = entry | (count << HUFF_COUNT_SHIFT) | n;
    }
  }
  return table;
}

/** Buffer's own latin1 slicer: toString('latin1', s, e) reaches it after argument checks we have done already. */
interface Latin1Slicer {
  latin1Slice(start: number, end: number): string;
}

const fcc = String.fromCharCode;

/**
 * src[s, s + n) as a latin1 string. Short strings (grpc-timeout, small numbers, tokens) skip the ~50 ns
 * crossing into C++ that latin1Slice costs whatever the length: fromCharCode is ~15 ns for up to 8.
 */
export function latin1(src: Buffer, s: number, n: number): string {
  switch (n) {
    case 0:
      return '';
    case 1:
      return fcc(src[s]);
    case 2:
      return fcc(src[s], src[s + 1]);
    case 3:
      return fcc(src[s], src[s + 1], src[s + 2]);
    case 4:
      return fcc(src[s], src[s + 1], src[s + 2], src[s + 3]);
    case 5:
      return fcc(src[s], src[s + 1], src[s + 2], src[s + 3], src[s + 4]);
    case 6:
      return fcc(src[s], src[s + 1], src[s + 2], src[s + 3], src[s + 4], src[s + 5]);
    case 7:
      return fcc(src[s], src[s + 1], src[s + 2], src[s + 3], src[s + 4], src[s + 5], src[s + 6]);
    case 8:
      return fcc(src[s], src[s + 1], src[s + 2], src[s + 3], src[s + 4], src[s + 5], src[s + 6], src[s + 7]);
    default:
      return (src as unknown as Latin1Slicer).latin1Slice(s, s + n);
  }
}

let huffOut = Buffer.allocUnsafe(512);

/** Decodes src[start, end) as a Huffman string; undefined when it holds EOS or bad padding. */
export function huffmanDecode(src: Buffer, start: number, end: number): string | undefined {
  const most = (((end - start) * 8) / 5) | 0; // every code is at least 5 bits
  if (huffOut.length < most) huffOut = Buffer.allocUnsafe(Math.max(most, huffOut.length * 2));
  const out = huffOut;
  const table = HUFF_TABLE;
  let k = 0;
  let t = HUFF_ACCEPT; // the empty string is valid
  for (let i = start; i < end; i++) {
    t = table[((t & 0xff) << 8) | src[i]];
    const count = (t >> HUFF_COUNT_SHIFT) & 3;
    // Uint8Array stores keep the low 8 bits, so the shifts need no mask.
    if (count !== 0) {
      out[k++] = t >> 8;
      if (count === 2) out[k++] = t >> 16;
    } else if (t & HUFF_FAIL) return undefined; // EOS inside the string
  }
  if (!(t & HUFF_ACCEPT)) return undefined; // padding over 7 bits, or not the EOS prefix
  return latin1(out, 0, k);
}
