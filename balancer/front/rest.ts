// The balancer's REST face (--http-port): the Open Inference Protocol's HTTP
// routes, the same ones a sidecar serves, answered by translating to the
// protobuf calls the router forwards. A JSON infer body is checked and
// encoded once here (the sidecar's JSON codec, raw_input_contents), routed
// like a gRPC ModelInfer, and the ModelInferResponse bytes decoded back to
// JSON. Errors are {"error": "..."} with the HTTP status of the gRPC status.
import type * as http from 'node:http';
import * as grpc from '@grpc/grpc-js';
import type { Clock } from '../../common/clock';
import { loadInferenceProto } from '../../protocol/proto';
import { InferError, internal, invalidArgument, Status, toInferError } from '../../protocol/status';
import type { InferParameter, InferParameter__Output } from '../../proto/gen/inference/InferParameter';
import type { ModelInferResponse__Output } from '../../proto/gen/inference/ModelInferResponse';
import { decodeGrpcInputs, toRaw } from '../../protocol/codec-grpc';
import { decodeJsonBody, encodeJsonResponse } from '../../protocol/codec-json';
import { MAX_BODY_BYTES, sendError, sendJson } from '../../protocol/rest';
import { elementCount, type Tensor } from '../../protocol/tensor';
import { MODEL_PATH, REST_PATH } from '../../protocol/paths';
import type { Clusters } from '../routing/clusters';
import type { RouteOutcome } from '../routing/route-call';
import type { Router } from '../routing/router';
import { isReady, modelReadyOutcome, modelRoutable, serverMetadata, unroutableReason } from './service-info';
import { forwardedMetadata } from '../upstream/pool';
import { INFER_METHODS, type CancelFn } from '../upstream/types';

/** What the REST handler needs. */
export interface BalancerRestDeps {
  readonly router: Router;
  readonly clusters: Clusters;
  readonly clock: Clock;
  /** Largest request body accepted (bytes; larger gets 413); default the sidecar's MAX_BODY_BYTES, which would refuse more anyway. */
  readonly maxBodyBytes?: number;
}

const ROUTES =
  'GET /v2/health/live, GET /v2/health/ready, GET /v2, GET /v2/models/{model}[/versions/{version}], ' +
  'GET /v2/models/{model}[/versions/{version}]/ready, POST /v2/models/{model}[/versions/{version}]/infer';

// Headers that negotiate this HTTP hop, not the call; forwardedMetadata drops the ones gRPC shares with HTTP.
const HTTP_ONLY = new Set(['accept', 'accept-encoding', 'accept-language', 'expect', 'cookie', 'origin', 'referer']);

/** One route the path names (methods checked separately so a wrong one gets 405, not 404). */
type Route =
  | { readonly kind: 'live' | 'serverReady' | 'server' }
  | { readonly kind: 'metadata' | 'modelReady' | 'infer' | 'stats'; readonly model: string; readonly version: string };

/** Request handler for the balancer's REST port. */
export function balancerRestHandler(deps: BalancerRestDeps): http.RequestListener {
  const { router, clusters, clock } = deps;
  const svc = loadInferenceProto().inference.GRPCInferenceService.service;
  const maxBody = deps.maxBodyBytes ?? MAX_BODY_BYTES;
  // GET /v2 answers exactly what gRPC ServerMetadata does (service-info.ts), so the two faces cannot drift.
  const metadata = serverMetadata();
  return (req, res) => {
    try {
      const method = req.method === 'HEAD' ? 'GET' : (req.method ?? 'GET');
      const url = (req.url ?? '/').split('?')[0];
      const route = parseRoute(url);
      if (!route) return sendJson(res, 404, { error: `no route for ${req.method} ${url}; routes: ${ROUTES}` });
      const allowed = route.kind === 'infer' ? 'POST' : 'GET';
      if (method !== allowed) {
        res.setHeader('allow', allowed === 'GET' ? 'GET, HEAD' : 'POST');
        return sendJson(res, 405, { error: `${req.method} is not allowed on ${url}; use ${allowed}` });
      }
      switch (route.kind) {
        case 'live':
          return sendJson(res, 200, { live: true });
        case 'serverReady': {
          const ready = isReady(clusters);
          return sendJson(res, ready ? 200 : 503, { ready });
        }
        case 'server':
          return sendJson(res, 200, metadata);
        case 'stats':
          throw new InferError(Status.UNIMPLEMENTED, `statistics are kept per sidecar; read ${url} on each sidecar's REST port`);
        case 'metadata': {
          const { model, version } = route;
          const bytes = svc.ModelMetadata.requestSerialize({ name: model, version });
          return routed(
            res,
            (done) => router.forward(INFER_METHODS.metadata, call(req, bytes, model, version), done),
            (b) => sendJson(res, 200, svc.ModelMetadata.responseDeserialize(b)),
          );
        }
        case 'modelReady': {
          // Triton answers 200 when ready and 400 otherwise, for a known model and an unknown one alike.
          const { model, version } = route;
          if (!modelRoutable(clusters, model, version))
            return notReady(res, model, unroutableReason(clusters, model, version, clock.now()));
          const bytes = svc.ModelReady.requestSerialize({ name: model, version });
          return routed(
            res,
            (done) => router.forward(INFER_METHODS.ready, call(req, bytes, model, version), (o) => done(modelReadyOutcome(o))),
            (b) =>
              svc.ModelReady.responseDeserialize(b).ready
                ? sendJson(res, 200, { name: model, ready: true })
                : notReady(res, model, `its endpoint answered not ready${version ? ` for version '${version}'` : ''}`),
          );
        }
        case 'infer': {
          const { model, version } = route;
          return readBody(req, res, maxBody, (text) => {
            const bytes = encodeInferRequest(svc, model, version, text);
            routed(
              res,
              (done) => router.infer(call(req, bytes, model, version), done),
              (b) => sendJson(res, 200, inferResponseJson(svc.ModelInfer.responseDeserialize(b))),
            );
          });
        }
      }
    } catch (e) {
      sendError(res, e);
    }
  };
}

/** ModelReady's REST answer for false: Triton's 400, with a body that says why. */
function notReady(res: http.ServerResponse, model: string, why: string): void {
  sendJson(res, 400, { name: model, ready: false, error: `model '${model}' is not ready: ${why}` });
}

/** The route a path names, or undefined; throws INVALID_ARGUMENT for bad percent-encoding. */
function parseRoute(url: string): Route | undefined {
  if (url === REST_PATH.live) return { kind: 'live' };
  if (url === REST_PATH.ready) return { kind: 'serverReady' };
  if (url === REST_PATH.server) return { kind: 'server' };
  const m = MODEL_PATH.exec(url);
  if (!m) return undefined;
  const kinds = { '': 'metadata', ready: 'modelReady', infer: 'infer', stats: 'stats' } as const;
  return { kind: kinds[(m[3] ?? '') as keyof typeof kinds], model: segment(m[1]), version: m[2] ? segment(m[2]) : '' };
}

function segment(s: string): string {
  try {
    return decodeURIComponent(s);
  } catch {
    throw invalidArgument(`path segment '${s}' is not valid percent-encoding`);
  }
}

/** The RouteCall for a REST request: model and version from the path, routing headers as gRPC metadata. */
function call(req: http.IncomingMessage, bytes: Buffer, model: string, version: string) {
  const objective = req.headers.objective;
  return {
    bytes,
    model,
    version,
    objective: typeof objective === 'string' && objective ? objective : undefined,
    metadata: requestMetadata(req),
    deadline: Infinity,
  };
}

/** Request headers as gRPC metadata, so shard keys (x-tenant-id), tracing and the like work as over gRPC. */
function requestMetadata(req: http.IncomingMessage): grpc.Metadata {
  const md = new grpc.Metadata();
  for (const [k, values] of Object.entries(req.headersDistinct)) {
    if (HTTP_ONLY.has(k) || k.startsWith('grpc-')) continue;
    for (const v of values ?? []) {
      // -bin values travel base64-encoded, as gRPC's HTTP/2 mapping sends them.
      try {
        md.add(k, k.endsWith('-bin') ? Buffer.from(v, 'base64') : v);
      } catch {
        // Not a legal gRPC header value (e.g. non-ASCII): the call can go without it.
      }
    }
  }
  return forwardedMetadata(md);
}

/** Starts a routed call and answers its outcome; a client that hangs up first cancels the call (freeing its in-flight slot). */
function routed(res: http.ServerResponse, start: (done: (o: RouteOutcome) => void) => CancelFn, onOk: (bytes: Buffer) => void): void {
  let settled = false;
  const cancel = start((o) => {
    settled = true;
    try {
      if (o.code !== Status.OK) return sendError(res, new InferError(o.code, o.details));
      onOk(o.response ?? Buffer.alloc(0));
    } catch (e) {
      sendError(res, e);
    }
  });
  // 'close' also follows a normal finish; settled tells the two apart.
  if (!settled) res.once('close', () => !settled && cancel());
}

type InferenceService = ReturnType<typeof loadInferenceProto>['inference']['GRPCInferenceService']['service'];

/** A JSON infer body as ModelInferRequest bytes; throws INVALID_ARGUMENT naming what was wrong. */
function encodeInferRequest(svc: InferenceService, model: string, version: string, text: string): Buffer {
  const body = decodeJsonBody(text);
  // Checked here, not left to the sidecar, whose raw_input_contents byte count message would puzzle a JSON client.
  for (const t of body.inputs) {
    const want = elementCount(t.shape);
    if (t.data.length !== want)
      throw invalidArgument(`input '${t.name}' holds ${t.data.length} elements; shape [${t.shape.join(',')}] needs ${want}`);
  }
  return svc.ModelInfer.requestSerialize({
    model_name: model,
    model_version: version,
    id: body.id ?? '',
    parameters: inferParameters(body.parameters ?? {}),
    inputs: body.inputs.map((t) => ({ name: t.name, datatype: t.datatype, shape: [...t.shape] })),
    outputs: body.outputs.map((name) => ({ name })),
    // decodeJsonBody has checked each datatype, so every input is a valid Tensor.
    raw_input_contents: body.inputs.map((t) => toRaw(t as Tensor)),
  });
}

/** JSON request parameters as InferParameters (integers as int64, as the sidecar reads priority and timeout). */
function inferParameters(p: Record<string, unknown>): Record<string, InferParameter> {
  const out: Record<string, InferParameter> = {};
  for (const [k, v] of Object.entries(p)) {
    if (typeof v === 'boolean') out[k] = { bool_param: v };
    else if (typeof v === 'string') out[k] = { string_param: v };
    else if (typeof v === 'number' && Number.isInteger(v)) out[k] = { int64_param: v };
    else if (typeof v === 'number') out[k] = { double_param: v };
    else throw invalidArgument(`parameter '${k}' is ${JSON.stringify(v)}; expected a boolean, number or string`);
  }
  return out;
}

/** The spec's JSON response for a decoded ModelInferResponse. */
function inferResponseJson(r: ModelInferResponse__Output): string {
  let outputs: Tensor[];
  try {
    // Output tensors have the fields of input tensors, so the gRPC input decoder reads raw or typed contents alike.
    outputs = decodeGrpcInputs({ ...r, inputs: r.outputs, outputs: [], raw_input_contents: r.raw_output_contents }) as Tensor[];
  } catch (e) {
    throw internal(`the sidecar's response for model '${r.model_name}' is malformed: ${toInferError(e).message}`);
  }
  const text = encodeJsonResponse(r.model_name, r.model_version, r.id, outputs);
  const params = Object.entries(r.parameters);
  if (params.length === 0) return text;
  // encodeJsonResponse has no parameters argument; its output is one object, so append the field before the closing brace.
  const json = Object.fromEntries(params.map(([k, v]) => [k, paramValue(v)]));
  return `${text.slice(0, -1)},"parameters":${JSON.stringify(json)}}`;
}

function paramValue(p: InferParameter__Output): unknown {
  return p.parameter_choice ? p[p.parameter_choice] : null;
}

/** Reads the whole body (utf-8), answering 413 instead once it passes limit bytes. */
function readBody(req: http.IncomingMessage, res: http.ServerResponse, limit: number, cb: (text: string) => void): void {
  const tooLarge = () => {
    // Closing after the answer spares reading the rest of a body that would only be dropped.
    res.setHeader('connection', 'close');
    sendJson(res, 413, { error: `request body exceeds ${limit} bytes` });
    req.resume();
  };
  if (Number(req.headers['content-length']) > limit) return tooLarge();
  const chunks: Buffer[] = [];
  let size = 0;
  let over = false;
  req.on('data', (c: Buffer) => {
    if (over) return;
    size += c.byteLength;
    if (size <= limit) return void chunks.push(c);
    over = true;
    chunks.length = 0;
    tooLarge();
  });
  req.on('end', () => {
    if (over) return;
    try {
      cb(Buffer.concat(chunks).toString('utf8'));
    } catch (e) {
      sendError(res, e);
    }
  });
  // The client left mid-body: there is nobody to answer.
  req.on('error', () => undefined);
}
