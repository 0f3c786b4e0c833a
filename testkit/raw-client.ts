// A gRPC client for benchmarks that sends pre-encoded request bytes and
// does not decode responses: the load generator shares the machine with the
// server, so every microsecond it spends is one the server does not get.
import * as grpc from '@grpc/grpc-js';
import * as protobuf from 'protobufjs';
import * as path from 'node:path';
import { PROTO_DIR } from '../protocol/proto';
import { METHOD } from '../protocol/paths';

const identity = (b: Buffer) => b;

/** Method paths of the inference service. */
export const METHODS = { infer: METHOD.ModelInfer, stream: METHOD.ModelStreamInfer } as const;

let root: protobuf.Root | undefined;
/** The inference proto as protobufjs types (for encoding requests once). */
export function inferenceRoot(): protobuf.Root {
  // keepCase: requests below use the proto's snake_case field names.
  root ??= new protobuf.Root().loadSync(path.join(PROTO_DIR, 'inference.proto'), { keepCase: true });
  return root;
}

/** Encodes a ModelInferRequest with raw FP32 input rows of `width` floats. */
export function encodeFp32Request(model: string, input: string, rows: number, width: number, seed = 1): Buffer {
  const data = new Float32Array(rows * width);
  let s = seed;
  for (let i = 0; i < data.length; i++) {
    s = (s * 1103515245 + 12345) >>> 0;
    data[i] = (s / 2 ** 32) * 2 - 1;
  }
  const T = inferenceRoot().lookupType('inference.ModelInferRequest');
  const msg = T.fromObject({
    model_name: model,
    inputs: [{ name: input, datatype: 'FP32', shape: [rows, width] }],
    raw_input_contents: [Buffer.from(data.buffer)],
  });
  return Buffer.from(T.encode(msg).finish());
}

/** A channel plus raw unary and stream calls. */
export class RawClient {
  private readonly client: grpc.Client;

  constructor(target: string, channelId = 0) {
    // A distinct channel option per client gives each its own HTTP/2 connection.
    this.client = new grpc.Client(target, grpc.credentials.createInsecure(), { 'infergate.bench_channel': channelId });
  }

  /** Unary ModelInfer with pre-encoded bytes. */
  infer(req: Buffer, cb: (err: grpc.ServiceError | null) => void): void {
    this.client.makeUnaryRequest(METHODS.infer, identity, identity, req, cb);
  }

  /** A ModelStreamInfer stream; responses arrive as raw bytes. */
  stream(): grpc.ClientDuplexStream<Buffer, Buffer> {
    return this.client.makeBidiStreamRequest(METHODS.stream, identity, identity);
  }

  close(): void {
    this.client.close();
  }
}

/** Whether a raw ModelStreamInferResponse carries an error (field 1 set, non-empty). */
export function isStreamError(resp: Buffer): boolean {
  return resp.length > 0 && resp[0] === 0x0a && resp.length > 1 && resp[1] !== 0;
}
