// Starts a real sidecar in this process on free loopback ports, and an
// independent client: the proto is loaded with proto-loader's *default*
// options (camelCase names, Long integers), unlike the server's, so the test
// speaks to the server only through the wire format.
import * as path from 'node:path';
import * as grpc from '@grpc/grpc-js';
import * as protoLoader from '@grpc/proto-loader';
import { silentLogger } from '../../common/log';
import { PROTO_DIR } from '../../protocol/proto';
import { startSidecar, type Sidecar, type SidecarOptions } from '../../sidecar/sidecar';

/** The bundled model repository (built by the build). */
export const MODELS = path.resolve(__dirname, '../../../models');

/** A dynamically typed client for inference.GRPCInferenceService. */
export type InferenceClient = grpc.Client & Record<string, (...args: unknown[]) => unknown>;

/** Builds a client from the .proto with default loader options. */
export function independentClient(port: number): InferenceClient {
  const def = protoLoader.loadSync(path.join(PROTO_DIR, 'inference.proto'));
  const pkg = grpc.loadPackageDefinition(def) as unknown as {
    inference: { GRPCInferenceService: new (addr: string, creds: grpc.ChannelCredentials) => InferenceClient };
  };
  return new pkg.inference.GRPCInferenceService(`127.0.0.1:${port}`, grpc.credentials.createInsecure());
}

/** Promisified unary call returning the response and trailers. */
export function unary<T = Record<string, unknown>>(
  client: InferenceClient,
  method: string,
  req: unknown,
  opts: grpc.CallOptions = {},
): Promise<{ res: T; trailers: grpc.Metadata }> {
  return new Promise((resolve, reject) => {
    let error: grpc.ServiceError | null = null;
    let res: T;
    const call = (
      client[method] as (
        r: unknown,
        m: grpc.Metadata,
        o: grpc.CallOptions,
        cb: (e: grpc.ServiceError | null, r: T) => void,
      ) => grpc.ClientUnaryCall
    )(req, new grpc.Metadata(), opts, (e, r) => {
      error = e;
      res = r;
    });
    // grpc-js calls the callback before it emits 'status'; settle on 'status' to see trailers.
    call.on('status', (s: grpc.StatusObject) => (error ? reject(error) : resolve({ res, trailers: s.metadata })));
  });
}

/** Starts a sidecar on port 0 with silent logs. */
export function startTestSidecar(over: Partial<SidecarOptions> = {}): Promise<Sidecar> {
  return startSidecar({
    modelsDir: MODELS,
    host: '127.0.0.1',
    grpcPort: 0,
    httpPort: 0,
    metricsPort: 0,
    log: silentLogger,
    drainTimeoutMs: 2000,
    ...over,
  });
}

/** FP32 rows as a raw little-endian buffer. */
export function rawF32(values: Float32Array): Buffer {
  return Buffer.from(values.buffer, values.byteOffset, values.byteLength);
}

/** Deterministic feature rows in [-1, 1). */
export function features(rows: number, width = 256, seed = 7): Float32Array {
  const out = new Float32Array(rows * width);
  let s = seed;
  for (let i = 0; i < out.length; i++) {
    s = (s * 1103515245 + 12345) >>> 0;
    out[i] = (s / 2 ** 32) * 2 - 1;
  }
  return out;
}
