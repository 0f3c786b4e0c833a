// HTTP/2 on the wire (RFC 9113): frame types, flags, error codes, settings,
// and builders for the frames a server sends. Used by the balancer's own
// HTTP/2 server (session.ts), which parses frames straight off the socket
// instead of going through node:http2 (why: session.ts).

export const PREFACE = Buffer.from('PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n', 'latin1');
export const FRAME_HEADER = 9;

export const enum Frame {
  DATA = 0x0,
  HEADERS = 0x1,
  PRIORITY = 0x2,
  RST_STREAM = 0x3,
  SETTINGS = 0x4,
  PUSH_PROMISE = 0x5,
  PING = 0x6,
  GOAWAY = 0x7,
  WINDOW_UPDATE = 0x8,
  CONTINUATION = 0x9,
}

export const enum Flag {
  END_STREAM = 0x1,
  ACK = 0x1,
  END_HEADERS = 0x4,
  PADDED = 0x8,
  PRIORITY = 0x20,
}

/** Error codes of RST_STREAM and GOAWAY (RFC 9113 section 7). */
export const enum H2Error {
  NO_ERROR = 0x0,
  PROTOCOL_ERROR = 0x1,
  INTERNAL_ERROR = 0x2,
  FLOW_CONTROL_ERROR = 0x3,
  STREAM_CLOSED = 0x5,
  FRAME_SIZE_ERROR = 0x6,
  REFUSED_STREAM = 0x7,
  CANCEL = 0x8,
  COMPRESSION_ERROR = 0x9,
  ENHANCE_YOUR_CALM = 0xb,
}

export const enum Setting {
  HEADER_TABLE_SIZE = 0x1,
  ENABLE_PUSH = 0x2,
  MAX_CONCURRENT_STREAMS = 0x3,
  INITIAL_WINDOW_SIZE = 0x4,
  MAX_FRAME_SIZE = 0x5,
  MAX_HEADER_LIST_SIZE = 0x6,
}

/** The protocol's defaults, before either side's SETTINGS. */
export const DEFAULT_WINDOW = 65_535;
export const DEFAULT_MAX_FRAME = 16_384;
export const MAX_WINDOW = 0x7fffffff;

/** Writes a frame header at buf[off]. */
export function writeFrameHeader(buf: Buffer, off: number, length: number, type: Frame, flags: number, streamId: number): void {
  buf[off] = length >>> 16;
  buf[off + 1] = (length >>> 8) & 0xff;
  buf[off + 2] = length & 0xff;
  buf[off + 3] = type;
  buf[off + 4] = flags;
  buf.writeUInt32BE(streamId, off + 5);
}

/** A frame with a payload copied after its header (one allocation). */
export function frameOf(type: Frame, flags: number, streamId: number, payload: Buffer): Buffer {
  const out = Buffer.allocUnsafe(FRAME_HEADER + payload.length);
  writeFrameHeader(out, 0, payload.length, type, flags, streamId);
  payload.copy(out, FRAME_HEADER);
  return out;
}

/** A SETTINGS frame with the given [id, value] pairs. */
export function settingsFrame(settings: ReadonlyArray<readonly [Setting, number]>): Buffer {
  const out = Buffer.allocUnsafe(FRAME_HEADER + 6 * settings.length);
  writeFrameHeader(out, 0, 6 * settings.length, Frame.SETTINGS, 0, 0);
  settings.forEach(([id, value], i) => {
    out.writeUInt16BE(id, FRAME_HEADER + 6 * i);
    out.writeUInt32BE(value, FRAME_HEADER + 6 * i + 2);
  });
  return out;
}

export const SETTINGS_ACK = (() => {
  const b = Buffer.alloc(FRAME_HEADER);
  writeFrameHeader(b, 0, 0, Frame.SETTINGS, Flag.ACK, 0);
  return b;
})();

export function windowUpdateFrame(streamId: number, increment: number): Buffer {
  const out = Buffer.allocUnsafe(FRAME_HEADER + 4);
  writeFrameHeader(out, 0, 4, Frame.WINDOW_UPDATE, 0, streamId);
  out.writeUInt32BE(increment, FRAME_HEADER);
  return out;
}

export function rstStreamFrame(streamId: number, code: H2Error): Buffer {
  const out = Buffer.allocUnsafe(FRAME_HEADER + 4);
  writeFrameHeader(out, 0, 4, Frame.RST_STREAM, 0, streamId);
  out.writeUInt32BE(code, FRAME_HEADER);
  return out;
}

export function goawayFrame(lastStreamId: number, code: H2Error, debug: string): Buffer {
  const text = Buffer.from(debug, 'utf8');
  const out = Buffer.allocUnsafe(FRAME_HEADER + 8 + text.length);
  writeFrameHeader(out, 0, 8 + text.length, Frame.GOAWAY, 0, 0);
  out.writeUInt32BE(lastStreamId, FRAME_HEADER);
  out.writeUInt32BE(code, FRAME_HEADER + 4);
  text.copy(out, FRAME_HEADER + 8);
  return out;
}

/** The PING ACK answering a PING whose 8-byte payload is at buf[off]. */
export function pingAckFrame(buf: Buffer, off: number): Buffer {
  const out = Buffer.allocUnsafe(FRAME_HEADER + 8);
  writeFrameHeader(out, 0, 8, Frame.PING, Flag.ACK, 0);
  buf.copy(out, FRAME_HEADER, off, off + 8);
  return out;
}

/** A PING (not an ACK) carrying 8 bytes of opaque data. */
export function pingFrame(data: bigint): Buffer {
  const out = Buffer.allocUnsafe(FRAME_HEADER + 8);
  writeFrameHeader(out, 0, 8, Frame.PING, 0, 0);
  out.writeBigUInt64BE(data, FRAME_HEADER);
  return out;
}

/**
 * HEADERS (and CONTINUATION when the block is larger than maxFrame) for a header block; endStream
 * sets END_STREAM on the HEADERS frame (a trailers block or a trailers-only answer).
 */
export function headersFrames(streamId: number, block: Buffer, endStream: boolean, maxFrame: number): Buffer {
  const es = endStream ? Flag.END_STREAM : 0;
  if (block.length <= maxFrame) {
    const out = Buffer.allocUnsafe(FRAME_HEADER + block.length);
    writeFrameHeader(out, 0, block.length, Frame.HEADERS, es | Flag.END_HEADERS, streamId);
    block.copy(out, FRAME_HEADER);
    return out;
  }
  const frames = Math.ceil(block.length / maxFrame);
  const out = Buffer.allocUnsafe(FRAME_HEADER * frames + block.length);
  let pos = 0;
  for (let i = 0, off = 0; i < frames; i++, off += maxFrame) {
    const len = Math.min(maxFrame, block.length - off);
    const last = i === frames - 1 ? Flag.END_HEADERS : 0;
    writeFrameHeader(out, pos, len, i === 0 ? Frame.HEADERS : Frame.CONTINUATION, (i === 0 ? es : 0) | last, streamId);
    block.copy(out, pos + FRAME_HEADER, off, off + len);
    pos += FRAME_HEADER + len;
  }
  return out;
}
