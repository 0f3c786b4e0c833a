// The Open Inference Protocol over gRPC (inference.GRPCInferenceService).
// Every response carries the sidecar's load in its trailer; stream responses
// carry errors in error_message, as Triton does, so one bad request never
// ends the stream for the others.
import * as grpc from '@grpc/grpc-js';
import type { Clock } from '../common/clock';
import { loadInferenceProto } from '../common/proto';
import { InferError, Status, toInferError } from '../common/status';
import type { GRPCInferenceServiceHandlers } from '../proto/gen/inference/GRPCInferenceService';
import type { ModelInferRequest__Output } from '../proto/gen/inference/ModelInferRequest';
import type { ModelStreamInferResponse } from '../proto/gen/inference/ModelStreamInferResponse';
import type { ModelMetadataResponse } from '../proto/gen/inference/ModelMetadataResponse';
import type { ModelStatistics } from '../proto/gen/inference/ModelStatistics';
import { decodeGrpcInputs, encodeGrpcResponse, schedulingParams } from './codec-grpc';
import type { InferCall, InferService } from './infer-service';
import type { LoadTracker } from './load-report';
import type { ModelRegistry } from './model-registry';
import { expectedShape } from './request-check';

/** Server identity reported by ServerMetadata. */
export const SERVER_NAME = 'infergate-sidecar';
export const SERVER_VERSION = '0.1.0';
/** Protocol extensions we implement, in ServerMetadata. */
export const EXTENSIONS = ['statistics', 'model_stream_infer', 'parameters'];

/** Converts a grpc-js deadline to clock milliseconds. */
function deadlineOf(call: grpc.ServerUnaryCall<unknown, unknown> | grpc.ServerDuplexStream<unknown, unknown>, clock: Clock): number {
  const d = call.getDeadline();
  const epochMs = d instanceof Date ? d.getTime() : d;
  if (!Number.isFinite(epochMs)) return Infinity;
  return clock.now() + (epochMs - Date.now());
}

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

function fail(err: unknown): Partial<grpc.StatusObject> {
  const e = toInferError(err);
  return { code: e.code, details: e.message };
}

/** Builds the service handlers over an InferService. */
export function inferenceHandlers(svc: InferService, load: LoadTracker, clock: Clock): GRPCInferenceServiceHandlers {
  const registry = svc.registry;
  return {
    ServerLive: (_call, cb) => cb(null, { live: true }),
    ServerReady: (_call, cb) => cb(null, { ready: registry.allReady() }),
    ModelReady: (call, cb) => cb(null, { ready: registry.isReady(call.request.name, call.request.version) }),
    ServerMetadata: (_call, cb) => cb(null, { name: SERVER_NAME, version: SERVER_VERSION, extensions: EXTENSIONS }),
    ModelMetadata: (call, cb) => {
      try {
        cb(null, modelMetadata(registry, call.request.name, call.request.version));
      } catch (e) {
        cb(fail(e));
      }
    },
    ModelStatistics: (call, cb) => {
      try {
        cb(null, { model_stats: modelStatistics(registry, call.request.name, call.request.version) });
      } catch (e) {
        cb(fail(e));
      }
    },
    ModelInfer: (call, cb) => {
      let inferCall: InferCall;
      try {
        inferCall = toInferCall(call.request, deadlineOf(call, clock));
      } catch (e) {
        return cb({ ...fail(e), metadata: load.trailer() });
      }
      svc.infer(inferCall, (err, res) => {
        if (call.cancelled) return;
        if (err) return cb({ code: err.code, details: err.message, metadata: load.trailer() });
        cb(null, encodeGrpcResponse(res!.model, res!.version, res!.id, res!.outputs), load.trailer());
      });
    },
    ModelStreamInfer: (call) => {
      let open = 0;
      let ended = false;
      const finishIfDone = () => {
        if (ended && open === 0) call.end(load.trailer());
      };
      const write = (msg: ModelStreamInferResponse) => {
        if (!call.cancelled && !call.destroyed) call.write(msg);
        open--;
        finishIfDone();
      };
      call.on('data', (req: ModelInferRequest__Output) => {
        open++;
        let inferCall: InferCall;
        try {
          inferCall = toInferCall(req, deadlineOf(call, clock));
        } catch (e) {
          return write(streamError(req.id, e));
        }
        svc.infer(inferCall, (err, res) => {
          if (err) return write(streamError(req.id, err));
          write({ error_message: '', infer_response: encodeGrpcResponse(res!.model, res!.version, res!.id, res!.outputs) });
        });
      });
      call.on('end', () => {
        ended = true;
        finishIfDone();
      });
      call.on('error', () => {
        ended = true;
      });
    },
  };
}

function streamError(id: string, err: unknown): ModelStreamInferResponse {
  const e = err instanceof InferError ? err : toInferError(err);
  // Triton's stream errors carry only text; we prefix the status name so
  // clients (and our balancer) can tell retryable failures apart.
  return { error_message: `[${Status[e.code]}] ${e.message}`, infer_response: { id } };
}

/** A grpc-js server with the inference service registered. */
export function createGrpcServer(svc: InferService, load: LoadTracker, clock: Clock, options: grpc.ServerOptions = {}): grpc.Server {
  const server = new grpc.Server({
    // Tensors can be large: 64 MiB matches Triton's practical default.
    'grpc.max_receive_message_length': 64 * 1024 * 1024,
    'grpc.max_send_message_length': 64 * 1024 * 1024,
    ...options,
  });
  const proto = loadInferenceProto();
  server.addService(proto.inference.GRPCInferenceService.service, inferenceHandlers(svc, load, clock));
  return server;
}

/** Binds a server to host:port and resolves with the bound port. */
export function bindGrpc(server: grpc.Server, address: string): Promise<number> {
  return new Promise((resolve, reject) => {
    server.bindAsync(address, grpc.ServerCredentials.createInsecure(), (err, port) => (err ? reject(err) : resolve(port)));
  });
}
