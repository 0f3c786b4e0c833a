// Loads the protocol definitions at run time with the same options the type
// generator uses (scripts/gen-proto-types.mjs), so the generated types in
// proto/gen describe exactly the objects grpc-js hands us.
import * as path from 'node:path';
import * as grpc from '@grpc/grpc-js';
import * as protoLoader from '@grpc/proto-loader';
import type { ProtoGrpcType as InferenceProto } from '../proto/gen/inference';

/** Directory holding the .proto files, from both src (ts) and dist (js). */
export const PROTO_DIR = path.resolve(__dirname, __dirname.includes(`${path.sep}dist${path.sep}`) ? '../../proto' : '../proto');

/** Must match the flags in scripts/gen-proto-types.mjs. */
export const PROTO_LOADER_OPTIONS: protoLoader.Options = {
  keepCase: true,
  longs: Number,
  enums: String,
  defaults: true,
  oneofs: true,
  includeDirs: [PROTO_DIR],
};

let inference: InferenceProto | undefined;

/** The `inference` package (KServe v2 / Triton), loaded once per process. */
export function loadInferenceProto(): InferenceProto {
  if (!inference) {
    const def = protoLoader.loadSync('inference.proto', PROTO_LOADER_OPTIONS);
    inference = grpc.loadPackageDefinition(def) as unknown as InferenceProto;
  }
  return inference;
}

/** Loads a proto file into a package definition (for protobufjs-level use). */
export function loadDefinition(file: string): protoLoader.PackageDefinition {
  return protoLoader.loadSync(file, PROTO_LOADER_OPTIONS);
}
