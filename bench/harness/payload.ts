// The bytes a phase sends, built once in the parent and handed to every
// worker: a serialized ModelInferRequest for gRPC, a JSON body for REST.
// Default: one `ranker` row (FP32 [1, 256], seeded), the same numbers on both.
import { encodeFp32Request } from '../../testkit/raw-client';
import { modelPath } from '../../protocol/paths';
import { bytesField, lastBytesField } from '../../protocol/wire-fields';

/** The default request's input: the bundled ranker's. */
const DEFAULT_INPUT = { name: 'features', width: 256 } as const;

/**
 * The gRPC request for `model`: `payload` (a serialized ModelInferRequest) or the default ranker row, with
 * model_name (and model_version, when given) appended, so --model always wins: a decoder keeps the last occurrence.
 */
export function grpcRequest(model: string, version: string | undefined, payload?: Buffer): Buffer {
  const base = payload ?? encodeFp32Request(model, DEFAULT_INPUT.name, 1, DEFAULT_INPUT.width);
  const parts = [base, bytesField(1, Buffer.from(model))];
  if (version) parts.push(bytesField(2, Buffer.from(version)));
  return Buffer.concat(parts);
}

/** The REST infer body: `payload` as given, or the default row as Open Inference Protocol JSON. */
export function restBody(payload?: Buffer): Buffer {
  if (payload) return payload;
  // The same floats as the gRPC default: read back from its raw_input_contents (field 7).
  const raw = lastBytesField(encodeFp32Request('x', DEFAULT_INPUT.name, 1, DEFAULT_INPUT.width), 7)!;
  const data = Array.from(new Float32Array(raw.buffer.slice(raw.byteOffset, raw.byteOffset + raw.length)));
  return Buffer.from(JSON.stringify({ inputs: [{ name: DEFAULT_INPUT.name, shape: [1, DEFAULT_INPUT.width], datatype: 'FP32', data }] }));
}

/** The REST infer path of a model (and version). */
export function restPath(model: string, version?: string): string {
  return modelPath(model, version, 'infer');
}
