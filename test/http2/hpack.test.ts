// HPACK (http2/hpack.ts): the RFC 7541 Appendix C vectors, the Huffman code
// table and the decoder against nghttp2 (node:http2) in both directions,
// malformed blocks, the dynamic table against a plain model, and encodeHeaders.
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import * as http2 from 'node:http2';
import * as net from 'node:net';
import { encodeHeaders, HpackDecoder, HpackError, HUFFMAN_CODES } from '../../http2/hpack';

const PREFACE = Buffer.from('PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n', 'latin1');
const HEADERS = 0x1;
const SETTINGS = 0x4;
const CONTINUATION = 0x9;
const END_STREAM = 0x1;
const END_HEADERS = 0x4;
const PADDED = 0x8;
const PRIORITY = 0x20;

type Pairs = [string, string][];

const hex = (s: string) => Buffer.from(s.replace(/\s+/g, ''), 'hex');
const pairs = (flat: readonly string[]): Pairs => {
  const r: Pairs = [];
  for (let i = 0; i < flat.length; i += 2) r.push([flat[i], flat[i + 1]]);
  return r;
};
const sorted = (p: Pairs) => [...p].sort((a, b) => (a[0] + '\0' + a[1] < b[0] + '\0' + b[1] ? -1 : 1));

/** Decodes `block` placed between bytes that are malformed HPACK, so reading outside [start, end) would show. */
function decode(d: HpackDecoder, block: Buffer, maxListSize = 1 << 20): Pairs {
  const buf = Buffer.concat([Buffer.from([0xff, 0xff, 0xff]), block, Buffer.from([0xff])]);
  const out: string[] = [];
  d.decode(buf, 3, 3 + block.length, out, maxListSize);
  return pairs(out);
}

/** The decoder's dynamic table, newest first, read back through indexed fields (62, 63, ...). */
function table(d: HpackDecoder, count: number): Pairs {
  const block = Buffer.alloc(count);
  for (let i = 0; i < count; i++) block[i] = 0x80 | (62 + i); // counts stay under 66 here, so one byte each
  const got = decode(d, block);
  // Reading is side-effect free, so probing one past the end leaves the decoder usable.
  assert.throws(() => decode(d, int(62 + count, 7, 0x80)), HpackError);
  return got;
}

// Encoders for blocks the tests build by hand.
function int(v: number, prefixBits: number, high: number): Buffer {
  const max = (1 << prefixBits) - 1;
  if (v < max) return Buffer.from([high | v]);
  const out = [high | max];
  for (v -= max; v >= 128; v = Math.floor(v / 128)) out.push((v % 128) | 0x80);
  out.push(v);
  return Buffer.from(out);
}
function huffman(bytes: Uint8Array): Buffer {
  const out: number[] = [];
  let cur = 0;
  let n = 0;
  const put = (bit: number) => {
    cur = (cur << 1) | bit;
    if (++n === 8) (out.push(cur), (cur = 0), (n = 0));
  };
  for (const b of bytes) {
    const [code, bits] = HUFFMAN_CODES[b];
    for (let i = bits - 1; i >= 0; i--) put((code >>> i) & 1);
  }
  while (n !== 0) put(1); // padding: the most significant bits of EOS
  return Buffer.from(out);
}
function str(s: string, useHuffman = false): Buffer {
  const raw = Buffer.from(s, 'latin1');
  const body = useHuffman ? huffman(raw) : raw;
  return Buffer.concat([int(body.length, 7, useHuffman ? 0x80 : 0), body]);
}
/** Literal with incremental indexing (6.2.1) of a new name. */
const indexed = (name: string, value: string, h = false) => Buffer.concat([Buffer.from([0x40]), str(name, h), str(value, h)]);

function frame(type: number, flags: number, stream: number, payload: Buffer): Buffer {
  const h = Buffer.alloc(9);
  h.writeUIntBE(payload.length, 0, 3);
  h[3] = type;
  h[4] = flags;
  h.writeUInt32BE(stream, 5);
  return Buffer.concat([h, payload]);
}

const once = <T>(emitter: { once(e: string, f: (v: T) => void): unknown }, event: string) => new Promise<T>((r) => emitter.once(event, r));

describe('RFC 7541 Appendix C', () => {
  const C2: [string, string, Pairs, Pairs][] = [
    [
      'C.2.1 literal with indexing',
      '400a637573746f6d2d6b65790d637573746f6d2d686561646572',
      [['custom-key', 'custom-header']],
      [['custom-key', 'custom-header']],
    ],
    ['C.2.2 literal without indexing', '040c2f73616d706c652f70617468', [[':path', '/sample/path']], []],
    ['C.2.3 literal never indexed', '100870617373776f726406736563726574', [['password', 'secret']], []],
    ['C.2.4 indexed', '82', [[':method', 'GET']], []],
  ];
  for (const [name, block, fields, after] of C2) {
    test(name, () => {
      const d = new HpackDecoder();
      assert.deepEqual(decode(d, hex(block)), fields);
      assert.deepEqual(table(d, after.length), after);
    });
  }

  const authority: [string, string] = [':authority', 'www.example.com'];
  const requests: [Pairs, Pairs][] = [
    [[[':method', 'GET'], [':scheme', 'http'], [':path', '/'], authority], [authority]],
    [
      [[':method', 'GET'], [':scheme', 'http'], [':path', '/'], authority, ['cache-control', 'no-cache']],
      [['cache-control', 'no-cache'], authority],
    ],
    [
      [[':method', 'GET'], [':scheme', 'https'], [':path', '/index.html'], authority, ['custom-key', 'custom-value']],
      [['custom-key', 'custom-value'], ['cache-control', 'no-cache'], authority],
    ],
  ];
  const date1: [string, string] = ['date', 'Mon, 21 Oct 2013 20:13:21 GMT'];
  const location: [string, string] = ['location', 'https://www.example.com'];
  const cookie: [string, string] = ['set-cookie', 'foo=ASDJKHQKBZXOQWEOPIUAXQWEOIU; max-age=3600; version=1'];
  const responses: [Pairs, Pairs][] = [
    [
      [[':status', '302'], ['cache-control', 'private'], date1, location],
      [location, date1, ['cache-control', 'private'], [':status', '302']],
    ],
    // :status 302 evicted to make room for 307
    [
      [[':status', '307'], ['cache-control', 'private'], date1, location],
      [[':status', '307'], location, date1, ['cache-control', 'private']],
    ],
    [
      [
        [':status', '200'],
        ['cache-control', 'private'],
        ['date', 'Mon, 21 Oct 2013 20:13:22 GMT'],
        location,
        ['content-encoding', 'gzip'],
        cookie,
      ],
      [cookie, ['content-encoding', 'gzip'], ['date', 'Mon, 21 Oct 2013 20:13:22 GMT']],
    ],
  ];
  // [name, decoder max table size, [fields, table after] per block, RFC's table size after each, blocks]
  const sequences: [string, number, [Pairs, Pairs][], number[], string[]][] = [
    [
      'C.3 requests without Huffman',
      4096,
      requests,
      [57, 110, 164],
      [
        '828684410f7777772e6578616d706c652e636f6d',
        '828684be58086e6f2d6361636865',
        '828785bf400a637573746f6d2d6b65790c637573746f6d2d76616c7565',
      ],
    ],
    [
      'C.4 requests with Huffman',
      4096,
      requests,
      [57, 110, 164],
      ['828684418cf1e3c2e5f23a6ba0ab90f4ff', '828684be5886a8eb10649cbf', '828785bf408825a849e95ba97d7f8925a849e95bb8e8b4bf'],
    ],
    [
      'C.5 responses without Huffman, 256-octet table',
      256,
      responses,
      [222, 222, 215],
      [
        '4803333032580770726976617465611d4d6f6e2c203231204f637420323031332032303a31333a323120474d546e1768747470733a2f2f7777772e6578616d706c652e636f6d',
        '4803333037c1c0bf',
        '88c1611d4d6f6e2c203231204f637420323031332032303a31333a323220474d54c05a04677a69707738666f6f3d4153444a4b48514b425a584f5157454f50495541585157454f49553b206d61782d6167653d333630303b2076657273696f6e3d31',
      ],
    ],
    [
      'C.6 responses with Huffman, 256-octet table',
      256,
      responses,
      [222, 222, 215],
      [
        '488264025885aec3771a4b6196d07abe941054d444a8200595040b8166e082a62d1bff6e919d29ad171863c78f0b97c8e9ae82ae43d3',
        '4883640effc1c0bf',
        '88c16196d07abe941054d444a8200595040b8166e084a62d1bffc05a839bd9ab77ad94e7821dd7f2e6c7b335dfdfcd5b3960d5af27087f3672c1ab270fb5291f9587316065c003ed4ee5b1063d5007',
      ],
    ],
  ];
  for (const [name, maxTable, steps, sizes, blocks] of sequences) {
    test(`${name}: one decoder, each block's fields and the dynamic table after it`, () => {
      const d = new HpackDecoder(maxTable);
      steps.forEach(([fields, after], i) => {
        assert.deepEqual(decode(d, hex(blocks[i])), fields, `block ${i + 1}`);
        assert.deepEqual(table(d, after.length), after, `table after block ${i + 1}`);
        // Guards the expected tables above: their sizes are the ones the RFC prints.
        assert.equal(
          after.reduce((n, [k, v]) => n + k.length + v.length + 32, 0),
          sizes[i],
        );
      });
    });
  }
});

describe('Huffman code table', () => {
  test('canonical, complete, and reproduces the RFC example', () => {
    assert.equal(HUFFMAN_CODES.length, 257);
    // The RFC's code is canonical: sorted by (length, symbol), each code is the previous plus one,
    // shifted to the new length. A mistyped row breaks this.
    const order = HUFFMAN_CODES.map((_, i) => i).sort((a, b) => HUFFMAN_CODES[a][1] - HUFFMAN_CODES[b][1] || a - b);
    let code = -1;
    let bits = HUFFMAN_CODES[order[0]][1];
    let kraft = 0;
    for (const sym of order) {
      const [c, len] = HUFFMAN_CODES[sym];
      code = (code + 1) * 2 ** (len - bits);
      bits = len;
      assert.equal(c, code, `symbol ${sym}`);
      kraft += 2 ** -len;
    }
    assert.equal(kraft, 1);
    assert.deepEqual(HUFFMAN_CODES[256], [0x3fffffff, 30]);
    assert.equal(huffman(Buffer.from('www.example.com')).toString('hex'), 'f1e3c2e5f23a6ba0ab90f4ff');
  });

  test('every byte value decodes back through HpackDecoder', () => {
    const all = Buffer.alloc(256);
    for (let i = 0; i < 256; i++) all[i] = i;
    const d = new HpackDecoder();
    const block = Buffer.concat([Buffer.from([0x00]), str('x-all', true), str(all.toString('latin1'), true)]);
    assert.deepEqual(decode(d, block), [['x-all', all.toString('latin1')]]);
  });

  test('random byte strings round trip through the test encoder and the decoder', () => {
    let seed = 7;
    const rand = (n: number) => ((seed = (seed * 1103515245 + 12345) >>> 0) >>> 8) % n;
    const d = new HpackDecoder();
    for (let i = 0; i < 2000; i++) {
      // Mostly ASCII, some high bytes and control characters, so long codes sit at every bit offset.
      const bytes = Buffer.from(Array.from({ length: rand(40) }, () => (rand(4) === 0 ? rand(256) : 0x20 + rand(95))));
      const value = bytes.toString('latin1');
      assert.deepEqual(decode(d, Buffer.concat([hex('0f 2b'), str(value, true)])), [['user-agent', value]], bytes.toString('hex'));
    }
  });

  test('node:http2 (nghttp2) server reads Huffman strings built from HUFFMAN_CODES: every byte it allows in a value', async () => {
    // nghttp2 refuses values with control characters other than HTAB, DEL, and leading or trailing
    // whitespace; so each value is wrapped in 'x' and carries a slice of the allowed bytes.
    const allowed = [0x09];
    for (let b = 0x20; b <= 0x7e; b++) allowed.push(b);
    for (let b = 0x80; b <= 0xff; b++) allowed.push(b);
    const sent: Pairs = [];
    for (let i = 0; i < allowed.length; i += 20)
      sent.push([`x-huff-${i}`, 'x' + Buffer.from(allowed.slice(i, i + 20)).toString('latin1') + 'x']);
    const block = Buffer.concat([
      Buffer.from([0x82, 0x86, 0x84]), // :method GET, :scheme http, :path /
      Buffer.from([0x41]),
      str('127.0.0.1', true), // :authority, name index 1
      ...sent.map(([n, v]) => Buffer.concat([Buffer.from([0x00]), str(n, true), str(v, true)])),
    ]);
    assert.deepEqual(decode(new HpackDecoder(), block).slice(4), sent);

    const server = http2.createServer();
    const seen = new Promise<http2.IncomingHttpHeaders>((resolve) =>
      server.on('stream', (s, h) => {
        s.respond({ ':status': 204 });
        s.end();
        resolve(h);
      }),
    );
    server.listen(0, '127.0.0.1');
    await once(server, 'listening');
    const sock = net.connect((server.address() as net.AddressInfo).port, '127.0.0.1');
    sock.on('data', () => {});
    try {
      sock.write(Buffer.concat([PREFACE, frame(SETTINGS, 0, 0, Buffer.alloc(0)), frame(HEADERS, END_HEADERS | END_STREAM, 1, block)]));
      const h = await seen;
      assert.equal(h[':authority'], '127.0.0.1');
      for (const [n, v] of sent) assert.equal(h[n], v, n);
    } finally {
      sock.destroy();
      server.close();
    }
  });
});

/** A raw HTTP/2 server that records each request's header block and answers every stream with `response` (END_STREAM). */
async function rawServer(response: Buffer): Promise<{ port: number; blocks: Map<number, Buffer>; close: () => void }> {
  const blocks = new Map<number, Buffer>();
  const sockets = new Set<net.Socket>();
  const server = net.createServer((sock) => {
    sockets.add(sock);
    sock.on('error', () => {});
    sock.write(frame(SETTINGS, 0, 0, Buffer.alloc(0)));
    let buf = Buffer.alloc(0);
    let preface = false;
    let pending: { id: number; parts: Buffer[] } | undefined;
    const onBlock = (id: number, block: Buffer) => {
      blocks.set(id, block);
      sock.write(frame(HEADERS, END_HEADERS | END_STREAM, id, response));
    };
    sock.on('data', (d: Buffer) => {
      buf = Buffer.concat([buf, d]);
      if (!preface) {
        if (buf.length < PREFACE.length) return;
        assert.ok(buf.subarray(0, PREFACE.length).equals(PREFACE));
        buf = buf.subarray(PREFACE.length);
        preface = true;
      }
      while (buf.length >= 9) {
        const len = buf.readUIntBE(0, 3);
        if (buf.length < 9 + len) break;
        const [type, flags, id] = [buf[3], buf[4], buf.readUInt32BE(5) & 0x7fffffff];
        let payload = buf.subarray(9, 9 + len);
        buf = buf.subarray(9 + len);
        if (type === SETTINGS && !(flags & 0x1)) sock.write(frame(SETTINGS, 0x1, 0, Buffer.alloc(0)));
        else if (type === HEADERS) {
          if (flags & PADDED) payload = payload.subarray(1, payload.length - payload[0]);
          if (flags & PRIORITY) payload = payload.subarray(5);
          if (flags & END_HEADERS) onBlock(id, Buffer.from(payload));
          else pending = { id, parts: [Buffer.from(payload)] };
        } else if (type === CONTINUATION && pending) {
          pending.parts.push(Buffer.from(payload));
          if (flags & END_HEADERS) (onBlock(pending.id, Buffer.concat(pending.parts)), (pending = undefined));
        }
      }
    });
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  return {
    port: (server.address() as net.AddressInfo).port,
    blocks,
    close: () => {
      for (const s of sockets) s.destroy();
      server.close();
    },
  };
}

/** Sends requests one after another on one node:http2 session; resolves with each response's headers. */
async function clientRequests(port: number, requests: http2.OutgoingHttpHeaders[]): Promise<http2.IncomingHttpHeaders[]> {
  const client = http2.connect(`http://127.0.0.1:${port}`);
  client.on('error', () => {});
  try {
    const got: http2.IncomingHttpHeaders[] = [];
    for (const h of requests) {
      const req = client.request(h, { endStream: true });
      got.push(await once<http2.IncomingHttpHeaders>(req, 'response'));
      req.resume();
      await once(req, 'close');
    }
    return got;
  } finally {
    client.close();
  }
}

describe('against nghttp2 blocks', () => {
  test('node:http2 client requests decode, across requests, to the fields it sent (dynamic table and Huffman in use)', async () => {
    const srv = await rawServer(encodeHeaders([':status', '200']));
    const authority = `127.0.0.1:${srv.port}`;
    const grpc = {
      ':method': 'POST',
      ':path': '/inference.GRPCInferenceService/ModelInfer',
      'content-type': 'application/grpc',
      te: 'trailers',
      'user-agent': 'grpc-node-js/1.14.7',
      'grpc-accept-encoding': 'identity,deflate,gzip',
      'accept-encoding': 'identity',
    };
    const requests: Record<string, string>[] = [
      { ...grpc, 'grpc-timeout': '4999m', 'x-request-id': 'a1b2c3d4-0001', authorization: 'Bearer abc', cookie: 'a=b' },
      { ...grpc, 'grpc-timeout': '4998m', 'x-request-id': 'a1b2c3d4-0002', authorization: 'Bearer abc', cookie: 'a=b' },
      { ...grpc, ':path': '/inference.GRPCInferenceService/ModelReady', 'x-latin1': 'caf\u00e9 \u00ff\u0080', 'x-long': 'z'.repeat(300) },
      { ':method': 'GET', ':path': '/health', 'x-request-id': 'a1b2c3d4-0004', 'x-latin1': 'caf\u00e9 \u00ff\u0080' },
    ];
    try {
      await clientRequests(srv.port, requests);
      const d = new HpackDecoder();
      requests.forEach((h, i) => {
        const block = srv.blocks.get(1 + 2 * i);
        assert.ok(block, `stream ${1 + 2 * i}`);
        const want: Pairs = [[':scheme', 'http'], [':authority', authority], ...Object.entries(h)];
        assert.deepEqual(sorted(decode(d, block)), sorted(want), `request ${i + 1}`);
      });
      const [first, second] = [srv.blocks.get(1)!, srv.blocks.get(3)!];
      // Indexing: the repeat is mostly one-byte indices (nghttp2 still sends :path, authorization and
      // cookie as literals every time). Huffman: the first is shorter than its raw literals.
      assert.ok(second.length * 2 < first.length, `second block ${second.length} bytes, first ${first.length}`);
      const raw = encodeHeaders(Object.entries({ ':scheme': 'http', ':authority': authority, ...requests[0] }).flat());
      assert.ok(first.length < raw.length, `first block ${first.length} bytes, raw ${raw.length}`);
    } finally {
      srv.close();
    }
  });

  test('encodeHeaders blocks are read by a node:http2 client', async () => {
    const fields = [
      ':status',
      '200',
      'content-type',
      'application/grpc',
      'grpc-encoding',
      'identity',
      'x-empty',
      '',
      'x-long',
      'v'.repeat(200),
      'x-latin1',
      'caf\u00e9 \u00ff',
      'server',
      'infergate',
    ];
    const srv = await rawServer(encodeHeaders(fields));
    try {
      const [h1, h2] = await clientRequests(srv.port, [{ ':path': '/a' }, { ':path': '/b' }]);
      for (const h of [h1, h2]) {
        const got: Pairs = Object.entries(h).map(([k, v]) => [k, String(v)]);
        assert.deepEqual(sorted(got), sorted(pairs(fields)));
      }
    } finally {
      srv.close();
    }
  });
});

describe('malformed blocks', () => {
  // [name, block, decoder max table size, maxListSize]
  const bad: [string, Buffer, number?, number?][] = [
    ['indexed field 0', hex('80')],
    ['index past the static table with an empty dynamic table', hex('be')],
    ['index past the table, multi-byte', hex('ff 80 01')],
    ['literal name index past the table', Buffer.concat([hex('7e'), str('v')])],
    ['truncated integer: prefix full, no continuation', hex('ff')],
    ['truncated integer: continuation bit on the last byte', hex('ff 80')],
    ['integer over 2^31 - 1', hex('ff ff ff ff ff 0f')],
    ['integer with 6 continuation bytes', hex('ff 80 80 80 80 80 00')],
    ['string length past the block', hex('40 0a 61 62')],
    ['literal with no name length', hex('00')],
    ['literal with no value', Buffer.concat([hex('00'), str('x-a')])],
    ['name-indexed literal with no value', hex('04')],
    ['table size update over the advertised maximum', hex('3f e2 1f')], // 4097
    ['table size update over a 256 maximum', hex('3f e2 01'), 256], // 257
    ['table size update after a field', hex('82 20')],
    ['Huffman EOS alone (32 ones)', hex('04 84 ff ff ff ff')],
    ["Huffman EOS after 'a'", hex('04 85 1f ff ff ff ff')],
    ["Huffman padding of 11 bits after 'a'", hex('04 82 1f ff')],
    ['Huffman padding of 8 ones alone', hex('04 81 ff')],
    ["Huffman padding not all ones after 'a'", hex('04 81 18')],
    ['header list over maxListSize', hex('82'), 4096, 41], // :method GET is 7 + 3 + 32 = 42
    ['header list over maxListSize on the second field', hex('82 84'), 4096, 42 + 37], // :path / is 5 + 1 + 32 = 38
  ];
  for (const [name, block, maxTable, maxList] of bad) {
    test(name, () => {
      assert.throws(() => decode(new HpackDecoder(maxTable), block, maxList), HpackError);
    });
  }

  const good: [string, Buffer, Pairs, number?, number?][] = [
    ['table size update to the maximum', hex('3f e1 1f 82'), [[':method', 'GET']]], // 4096
    ['two table size updates at the start', hex('20 3f e1 01 82'), [[':method', 'GET']], 256], // 0 then 256
    ['integer with 5 continuation bytes, in range', hex('0f 80 80 80 80 00 01 61'), [['accept-charset', 'a']]], // index 15
    ['header list exactly maxListSize', hex('82'), [[':method', 'GET']], 4096, 42],
    ["Huffman 'a' with 3 bits of padding", hex('04 81 1f'), [[':path', 'a']]],
    ['empty strings, raw and Huffman', hex('00 80 00'), [['', '']]],
  ];
  for (const [name, block, want, maxTable, maxList] of good) {
    test(`accepted: ${name}`, () => {
      assert.deepEqual(decode(new HpackDecoder(maxTable), block, maxList), want);
    });
  }
});

describe('dynamic table', () => {
  test('an entry larger than the table empties it; a size update to 0 evicts everything', () => {
    const d = new HpackDecoder(256);
    decode(d, Buffer.concat([indexed('a', '1'), indexed('b', '2')]));
    assert.deepEqual(table(d, 2), [
      ['b', '2'],
      ['a', '1'],
    ]);
    assert.deepEqual(decode(d, indexed('big', 'x'.repeat(256 - 32 - 2))), [['big', 'x'.repeat(222)]]);
    assert.deepEqual(table(d, 0), []);
    decode(d, indexed('c', '3'));
    assert.deepEqual(decode(d, hex('20 82')), [[':method', 'GET']]);
    assert.deepEqual(table(d, 0), []);
    decode(d, Buffer.concat([hex('3f e1 01'), indexed('d', '4')])); // back up to 256
    assert.deepEqual(table(d, 1), [['d', '4']]);
  });

  test('a literal naming a dynamic entry that its own insertion evicts', () => {
    const d = new HpackDecoder(32 + 3 + 3);
    decode(d, indexed('abc', 'xyz'));
    // 0x7e: incremental indexing, name index 62 (6-bit prefix); the new entry evicts the one it names.
    assert.deepEqual(decode(d, Buffer.concat([hex('7e'), str('uvw')])), [['abc', 'uvw']]);
    assert.deepEqual(table(d, 1), [['abc', 'uvw']]);
  });

  test('matches a plain array model over random inserts, evictions, and size updates', () => {
    let seed = 12345;
    const rand = (n: number) => ((seed = (seed * 1103515245 + 12345) >>> 0) >>> 8) % n;
    const max = 4096;
    const d = new HpackDecoder(max);
    let model: Pairs = [];
    let cap = max;
    const size = (m: Pairs) => m.reduce((s, [n, v]) => s + n.length + v.length + 32, 0);
    for (let round = 0; round < 300; round++) {
      const parts: Buffer[] = [];
      if (rand(8) === 0) {
        cap = rand(5) === 0 ? 0 : rand(max + 1);
        parts.push(int(cap, 5, 0x20));
        while (size(model) > cap) model.pop();
      }
      for (let n = rand(6); n > 0; n--) {
        const name = `n${rand(1000)}`;
        const value = 'v'.repeat(rand(rand(10) === 0 ? 600 : 40));
        parts.push(indexed(name, value, rand(2) === 0));
        const e = name.length + value.length + 32;
        if (e > cap) model = [];
        else {
          model.unshift([name, value]);
          while (size(model) > cap) model.pop();
        }
      }
      decode(d, Buffer.concat(parts));
      const probe = Buffer.concat(model.map((_, i) => int(62 + i, 7, 0x80)));
      assert.deepEqual(decode(d, probe), model, `round ${round}`);
      assert.throws(() => decode(d, int(62 + model.length, 7, 0x80)), HpackError);
    }
  });
});

describe(':path memo (nghttp2 sends :path as a literal on every request)', () => {
  const path = (p: string, h: boolean, never = false) => Buffer.concat([Buffer.from([never ? 0x14 : 0x04]), str(p, h)]);

  test('hundreds of distinct paths, more than the memo holds, decode right on every pass', () => {
    const d = new HpackDecoder();
    const paths = Array.from({ length: 300 }, (_, i) => `/pkg.Service${i % 17}/Method${i}`);
    for (let pass = 0; pass < 3; pass++) {
      paths.forEach((p, i) => {
        const h = (i + pass) % 2 === 0;
        assert.deepEqual(decode(d, path(p, h, i % 3 === 0)), [[':path', p]], `${p} pass ${pass} huffman ${h}`);
      });
    }
    const long = '/' + 'x'.repeat(400); // longer than the memo keeps
    for (let i = 0; i < 2; i++) assert.deepEqual(decode(d, path(long, i === 0)), [[':path', long]]);
  });

  test('the same bytes raw and Huffman-coded are different strings', () => {
    const d = new HpackDecoder();
    for (let i = 0; i < 3; i++) {
      assert.deepEqual(decode(d, hex('04 01 1f')), [[':path', '\x1f']]);
      assert.deepEqual(decode(d, hex('04 81 1f')), [[':path', 'a']]);
    }
  });

  test('a malformed Huffman path is rejected every time, not remembered', () => {
    for (let i = 0; i < 3; i++) assert.throws(() => decode(new HpackDecoder(), hex('04 81 18')), HpackError);
    assert.deepEqual(decode(new HpackDecoder(), hex('04 81 1f')), [[':path', 'a']]);
  });
});

describe('encodeHeaders', () => {
  const cases: [string, string[], string][] = [
    ['exact static match is one indexed byte', [':status', '200'], '88'],
    ['static name, other value: 4-bit name index', [':status', '418'], '08 03 343138'],
    [
      'static name index over 15 takes a continuation byte',
      ['content-type', 'application/grpc'],
      '0f 10 10 6170706c69636174696f6e2f67727063',
    ],
    ['new name', ['grpc-status', '0'], '00 0b 677270632d737461747573 01 30'],
    ['empty value', ['x', ''], '00 01 78 00'],
  ];
  for (const [name, fields, want] of cases) {
    test(name, () => assert.equal(encodeHeaders(fields).toString('hex'), want.replace(/\s+/g, '')));
  }

  test('round trip through HpackDecoder without touching its dynamic table', () => {
    const fields = [
      ':status',
      '200',
      ':status',
      '503',
      'content-type',
      'application/grpc',
      'accept-encoding',
      'gzip, deflate',
      'grpc-status',
      '14',
      'grpc-message',
      'm'.repeat(127),
      'x-128',
      'n'.repeat(128),
      'x-big',
      'q'.repeat(70_000),
      'x-latin1',
      'caf\u00e9\u00ff\u0080',
      'x-empty',
      '',
      'www-authenticate',
      'Basic',
    ];
    const d = new HpackDecoder();
    const block = encodeHeaders(fields);
    assert.deepEqual(decode(d, block), pairs(fields));
    assert.deepEqual(decode(d, block), pairs(fields), 'same block again');
    assert.deepEqual(table(d, 0), []);
    assert.equal(encodeHeaders([]).length, 0);
    assert.throws(() => encodeHeaders(['odd']), TypeError);
  });
});
