// The Open Inference Protocol's methods as the sidecar answers them, apart
// from the transport (grpc.ts): request messages in, response
// messages (or an InferError) out. REST (rest.ts) shares the
// metadata and statistics answers.
import { InferError, Status, toInferError } from '../../protocol/status';
import type { ModelInferRequest__Output } from '../../proto/gen/inference/ModelInferRequest';
import type { ModelMetadataResponse } from '../../proto/gen/inference/ModelMetadataResponse';
import type { ModelStatistics } from '../../proto/gen/inference/ModelStatistics';
import type { ModelStreamInferResponse } from '../../proto/gen/inference/ModelStreamInferResponse';
import { decodeGrpcInputs, encodeGrpcResponse, schedulingParams } from '../../protocol/codec-grpc';
import type { InferCall, InferService } from './infer-service';
import type { ModelRegistry } from '../repository/registry';
import { expectedShape } from './request-check';

/** Server identity reported by ServerMetadata. */
export const SERVER_NAME = 'infergate-sidecar';
export const SERVER_VERSION = '0.1.0';
/** Protocol extensions we implement, in ServerMetadata. */
export const EXTENSIONS = ['statistics', 'model_stream_infer', 'parameters'];

/** Turns a request message into the service's call shape (throws InferError). */
export function toInferCall(req: ModelInferRequest__Output, deadline: number): InferCall {
  return {
    model: req.model_name,
    version: req.model_version,
    id: req.id,
    inputs: decodeGrpcInputs(req),
    outputNames: req.outputs.map((o) => o.name),
    params: schedulingParams(req.parameters),
    deadline,
  };
}

/** Metadata for one model, in the protocol's shape. */
export function modelMetadata(registry: ModelRegistry, name: string, version: string): ModelMetadataResponse {
  const { model } = registry.resolve(name, version);
  const cfg = model.config;
  const meta = (s: (typeof cfg.inputs)[number]) => ({ name: s.name, datatype: s.datatype, shape: expectedShape(cfg, s) });
  return {
    name: cfg.name,
    versions: version ? [version] : [...model.versionNames],
    platform: cfg.platform === 'onnx' ? 'onnxruntime_onnx' : 'infergate_workflow',
    inputs: cfg.inputs.map(meta),
    outputs: cfg.outputs.map(meta),
  };
}

/** Statistics for one model/version, or all when name is empty. */
export function modelStatistics(registry: ModelRegistry, name: string, version: string): ModelStatistics[] {
  if (!name) return registry.list().flatMap((m) => [...m.versions.values()].map((v) => v.stats.toProto()));
  if (version) return [registry.resolve(name, version).served.stats.toProto()];
  return [...registry.model(name).versions.values()].map((v) => v.stats.toProto());
}

/** A stream answer carrying an error instead of a response, for the request with this id. */
export function streamError(id: string, err: unknown): ModelStreamInferResponse {
  const e = err instanceof InferError ? err : toInferError(err);
  // Triton's stream errors carry only text; we prefix the status name so
  // clients (and our balancer) can tell retryable failures apart.
  return { error_message: `[${Status[e.code]}] ${e.message}`, infer_response: { id } };
}

/** A method's answer: the response message, or why there is none. */
export type Reply = (err: InferError | null, res?: object) => void;

/** A unary method: the decoded request and the caller's deadline (clock ms, Infinity: none). */
export type UnaryMethod = (req: never, deadline: number, reply: Reply) => void;

interface NamedVersion {
  readonly name: string;
  readonly version: string;
}

/** The unary methods of inference.GRPCInferenceService, by method name. */
export function unaryMethods(svc: InferService): Record<string, UnaryMethod> {
  const registry = svc.registry;
  const guarded = <R>(reply: Reply, answer: () => R): void => {
    let res: R;
    try {
      res = answer();
    } catch (e) {
      return reply(toInferError(e));
    }
    reply(null, res as object);
  };
  return {
    ServerLive: (_req: unknown, _d: number, reply: Reply) => reply(null, { live: true }),
    ServerReady: (_req: unknown, _d: number, reply: Reply) => reply(null, { ready: registry.allReady() }),
    ModelReady: (req: NamedVersion, _d: number, reply: Reply) => reply(null, { ready: registry.isReady(req.name, req.version) }),
    ServerMetadata: (_req: unknown, _d: number, reply: Reply) =>
      reply(null, { name: SERVER_NAME, version: SERVER_VERSION, extensions: EXTENSIONS }),
    ModelMetadata: (req: NamedVersion, _d: number, reply: Reply) => guarded(reply, () => modelMetadata(registry, req.name, req.version)),
    ModelStatistics: (req: NamedVersion, _d: number, reply: Reply) =>
      guarded(reply, () => ({ model_stats: modelStatistics(registry, req.name, req.version) })),
    ModelInfer: (req: ModelInferRequest__Output, deadline: number, reply: Reply) => {
      let call: InferCall;
      try {
        call = toInferCall(req, deadline);
      } catch (e) {
        return reply(toInferError(e));
      }
      svc.infer(call, (err, res) => (err ? reply(err) : reply(null, encodeGrpcResponse(res!.model, res!.version, res!.id, res!.outputs))));
    },
  };
}

/** One ModelStreamInfer message: its answer is always a message (errors in error_message), so the stream carries on. */
export function streamInfer(
  svc: InferService,
  req: ModelInferRequest__Output,
  deadline: number,
  answer: (msg: ModelStreamInferResponse) => void,
): void {
  let call: InferCall;
  try {
    call = toInferCall(req, deadline);
  } catch (e) {
    return answer(streamError(req.id, e));
  }
  svc.infer(call, (err, res) => {
    if (err) return answer(streamError(req.id, err));
    answer({ error_message: '', infer_response: encodeGrpcResponse(res!.model, res!.version, res!.id, res!.outputs) });
  });
}
