// The balancer's gRPC face: the same inference.GRPCInferenceService the
// sidecars serve. ModelInfer, ModelStreamInfer, ModelReady and ModelMetadata
// take and return raw bytes (identity (de)serializers); only the routing
// fields are peeked. ServerLive/ServerReady/ServerMetadata are answered here.
import * as grpc from '@grpc/grpc-js';
import type { Clock } from '../common/clock';
import { loadInferenceProto } from '../common/proto';
import { Status } from '../common/status';
import type { Clusters } from './cluster';
import { MalformedRequest, peekRoute } from './peek-request';
import type { RouteCall, RouteOutcome, Router } from './router';
import { forwardedMetadata, INFER_METHODS, streamKeyOf, type CancelFn } from './upstream';
import { bytesField, lastBytesField, stringField } from './wire-fields';

/** Name and version the balancer reports in ServerMetadata. */
export const BALANCER_NAME = 'infergate-balancer';
const BALANCER_VERSION = '0.1.0';

/** How long a ModelMetadata answer is reused: metadata changes only when models are reloaded. */
const METADATA_TTL_MS = 5_000;

const RAW_METHODS = new Set(['ModelInfer', 'ModelStreamInfer', 'ModelReady', 'ModelMetadata']);
const identity = (b: Buffer): Buffer => b;

type RawUnary = grpc.ServerUnaryCall<Buffer, Buffer>;
type RawCallback = grpc.sendUnaryData<Buffer>;

/** What the handlers need. */
export interface BalancerServerDeps {
  readonly router: Router;
  readonly clusters: Clusters;
  readonly clock: Clock;
}

/** The inference service definition with pass-through (de)serializers for the forwarded methods. */
function rawServiceDefinition(): grpc.ServiceDefinition {
  const base = loadInferenceProto().inference.GRPCInferenceService.service as unknown as grpc.ServiceDefinition;
  const out: Record<string, grpc.MethodDefinition<unknown, unknown>> = {};
  for (const [name, m] of Object.entries(base)) {
    const raw: grpc.MethodDefinition<Buffer, Buffer> = {
      ...m, requestSerialize: identity, requestDeserialize: identity, responseSerialize: identity, responseDeserialize: identity,
    };
    out[name] = RAW_METHODS.has(name) ? (raw as grpc.MethodDefinition<unknown, unknown>) : m;
  }
  return out as grpc.ServiceDefinition;
}

/** Absolute deadline of a server call in epoch ms (Infinity: none). */
function deadlineOf(call: { getDeadline(): grpc.Deadline }): number {
  const d = call.getDeadline();
  return d instanceof Date ? d.getTime() : d;
}

/** The RouteCall for a raw unary request, or a status to answer with. */
function routeCall(call: RawUnary | grpc.ServerDuplexStream<Buffer, Buffer>, bytes: Buffer, md: grpc.Metadata, streamKey?: string): RouteCall | RouteOutcome {
  try {
    const { model, version } = peekRoute(bytes);
    const objective = md.get('objective')[0];
    return {
      bytes, model, version, objective: objective === undefined ? undefined : String(objective), metadata: md, deadline: deadlineOf(call), streamKey,
    };
  } catch (e) {
    if (e instanceof MalformedRequest) return { code: Status.INVALID_ARGUMENT, details: `malformed request: ${e.message}` };
    throw e;
  }
}

function reply(cb: RawCallback, o: RouteOutcome): void {
  if (o.code === Status.OK) cb(null, o.response);
  else cb({ code: o.code, details: o.details });
}

/** ServerReady's answer (and /readyz's): some model is known and every known model has a candidate endpoint. */
export function isReady(clusters: Clusters, now: number): boolean {
  if (clusters.byModel.size === 0) return false;
  for (const c of clusters.byModel.values()) {
    if (c.snapshot.select({}, c.currentPolicy, now).kind !== 'ok') return false;
  }
  return true;
}

/** Builds the service handlers. */
export function balancerHandlers(deps: BalancerServerDeps): grpc.UntypedServiceImplementation {
  const { router, clusters, clock } = deps;
  const metadataCache = new Map<string, { bytes: Buffer; until: number }>();
  const forward = (method: typeof INFER_METHODS.ready | typeof INFER_METHODS.metadata) => (call: RawUnary, cb: RawCallback) => {
    const rc = routeCall(call, call.request, forwardedMetadata(call.metadata));
    if (!('bytes' in rc)) return reply(cb, rc);
    router.forward(method, rc, (o) => reply(cb, o));
  };
  const readyForward = forward(INFER_METHODS.ready);
  const metadataForward = forward(INFER_METHODS.metadata);
  return {
    ServerLive: (_call: grpc.ServerUnaryCall<unknown, unknown>, cb: grpc.sendUnaryData<unknown>) => cb(null, { live: true }),
    ServerReady: (_call: grpc.ServerUnaryCall<unknown, unknown>, cb: grpc.sendUnaryData<unknown>) =>
      cb(null, { ready: isReady(clusters, clock.now()) }),
    ServerMetadata: (_call: grpc.ServerUnaryCall<unknown, unknown>, cb: grpc.sendUnaryData<unknown>) =>
      cb(null, { name: BALANCER_NAME, version: BALANCER_VERSION, extensions: ['model_stream_infer'] }),
    ModelReady: readyForward,
    ModelMetadata: (call: RawUnary, cb: RawCallback) => {
      const key = call.request.toString('base64');
      const hit = metadataCache.get(key);
      if (hit && hit.until > clock.now()) return cb(null, hit.bytes);
      metadataForward(call, (err, res) => {
        if (!err && res) {
          if (metadataCache.size > 1000) metadataCache.clear();
          metadataCache.set(key, { bytes: res, until: clock.now() + METADATA_TTL_MS });
        }
        cb(err, res);
      });
    },
    ModelInfer: (call: RawUnary, cb: RawCallback) => {
      const rc = routeCall(call, call.request, forwardedMetadata(call.metadata));
      if (!('bytes' in rc)) return reply(cb, rc);
      const cancel = router.infer(rc, (o) => reply(cb, o));
      call.once('cancelled', cancel);
    },
    ModelStreamInfer: (call: grpc.ServerDuplexStream<Buffer, Buffer>) => {
      // Each message is routed on its own, so messages of one client stream
      // spread over endpoints like unary calls do, and travels on an upstream
      // stream shared with other client streams of equal metadata.
      const md = forwardedMetadata(call.metadata);
      const streamKey = streamKeyOf(md);
      let ended = false;
      // Messages routed and not yet answered, so a client that cancels the stream cancels their upstream calls too.
      const inFlight = new Set<CancelFn>();
      const endIfDone = () => {
        if (ended && inFlight.size === 0 && !call.cancelled) call.end();
      };
      const send = (msg: Buffer) => {
        if (!call.cancelled && !call.destroyed) call.write(msg);
      };
      call.on('data', (bytes: Buffer) => {
        const rc = routeCall(call, bytes, md, streamKey);
        if (!('bytes' in rc)) return send(streamError(bytes, rc));
        let answered = false;
        let cancel: CancelFn | undefined;
        cancel = router.infer(rc, (o) => {
          answered = true;
          if (cancel) inFlight.delete(cancel);
          send(o.code === Status.OK && o.response ? bytesField(2, o.response) : streamError(bytes, o));
          endIfDone();
        });
        if (!answered) inFlight.add(cancel);
      });
      call.on('end', () => {
        ended = true;
        endIfDone();
      });
      call.on('cancelled', () => {
        ended = true;
        for (const cancel of [...inFlight]) cancel();
        inFlight.clear();
      });
      call.on('error', () => {
        ended = true;
      });
    },
  };
}

/** A grpc-js server with the balancer's inference service registered. */
export function createBalancerServer(deps: BalancerServerDeps): grpc.Server {
  const server = new grpc.Server({
    'grpc.max_receive_message_length': 64 * 1024 * 1024,
    'grpc.max_send_message_length': 64 * 1024 * 1024,
  });
  server.addService(rawServiceDefinition(), balancerHandlers(deps));
  return server;
}

/**
 * A ModelStreamInferResponse carrying an error: error_message (field 1) with
 * the sidecar's `[STATUS] message` convention, and infer_response (field 2)
 * holding only the request's id (field 3), so clients can match it.
 */
function streamError(request: Buffer, o: RouteOutcome): Buffer {
  let id: Buffer | undefined;
  try {
    id = lastBytesField(request, 3);
  } catch {
    id = undefined; // a malformed request has no id to echo
  }
  const inner = id ? bytesField(3, id) : Buffer.alloc(0);
  return Buffer.concat([stringField(1, `[${Status[o.code]}] ${o.details}`), bytesField(2, inner)]);
}
