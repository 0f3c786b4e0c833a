// The Open Inference Protocol over HTTP/REST, beside the gRPC server, and
// the metrics endpoint. Errors are {"error": "..."} with the HTTP status that
// matches the gRPC status the same failure gets over gRPC (protocol/rest.ts).
import type * as http from 'node:http';
import { InferError, notFound, Status } from '../../protocol/status';
import { MAX_BODY_BYTES, sendError, sendJson } from '../../protocol/rest';
import { decodeJsonBody, encodeJsonResponse } from '../../protocol/codec-json';
import type { InferService } from './infer-service';
import type { SidecarMetrics } from '../metrics';
import { EXTENSIONS, modelMetadata, modelStatistics, SERVER_NAME, SERVER_VERSION } from './methods';
import { MODEL_PATH, REST_PATH } from '../../protocol/paths';
import { FAULT_PATH } from './fault-admin';

function readBody(req: http.IncomingMessage, cb: (err: InferError | null, body?: string) => void): void {
  const chunks: Buffer[] = [];
  let size = 0;
  let failed = false;
  req.on('data', (c: Buffer) => {
    size += c.byteLength;
    if (size > MAX_BODY_BYTES && !failed) {
      failed = true;
      cb(new InferError(Status.RESOURCE_EXHAUSTED, `request body exceeds ${MAX_BODY_BYTES} bytes`));
      req.resume();
      return;
    }
    if (!failed) chunks.push(c);
  });
  req.on('end', () => {
    if (!failed) cb(null, Buffer.concat(chunks).toString('utf8'));
  });
  req.on('error', () => undefined);
}

/** Request handler for the REST protocol. */
export function restHandler(svc: InferService): http.RequestListener {
  const registry = svc.registry;
  return (req, res) => {
    const url = (req.url ?? '/').split('?')[0];
    const method = req.method ?? 'GET';
    try {
      if (method === 'GET' && url === REST_PATH.live) return sendJson(res, 200, { live: true });
      if (method === 'GET' && url === REST_PATH.ready) {
        const ready = registry.allReady();
        return sendJson(res, ready ? 200 : 503, { ready });
      }
      if (method === 'GET' && url === REST_PATH.server)
        return sendJson(res, 200, { name: SERVER_NAME, version: SERVER_VERSION, extensions: EXTENSIONS });
      const m = MODEL_PATH.exec(url);
      if (!m) throw notFound(`no route for ${method} ${url}; see /v2/models/{model}[/versions/{v}]/(ready|infer|stats)`);
      const name = decodeURIComponent(m[1]);
      const version = m[2] ? decodeURIComponent(m[2]) : '';
      const action = m[3] ?? '';
      if (method === 'GET' && action === '') return sendJson(res, 200, modelMetadata(registry, name, version));
      if (method === 'GET' && action === 'ready') {
        registry.resolve(name, version);
        const ready = registry.isReady(name, version);
        return sendJson(res, ready ? 200 : 503, { name, ready });
      }
      if (method === 'GET' && action === 'stats') return sendJson(res, 200, { model_stats: modelStatistics(registry, name, version) });
      if (method === 'POST' && action === 'infer') return inferRest(svc, name, version, req, res);
      throw new InferError(Status.UNIMPLEMENTED, `${method} is not supported on ${url}`);
    } catch (e) {
      sendError(res, e);
    }
  };
}

function inferRest(svc: InferService, model: string, version: string, req: http.IncomingMessage, res: http.ServerResponse): void {
  readBody(req, (err, text) => {
    if (err) return sendError(res, err);
    try {
      const body = decodeJsonBody(text!);
      svc.infer(
        { model, version, id: body.id ?? '', inputs: body.inputs, outputNames: body.outputs, params: body.params, deadline: Infinity },
        (e, r) => (e ? sendError(res, e) : sendJson(res, 200, encodeJsonResponse(r!.model, r!.version, r!.id, r!.outputs))),
      );
    } catch (e) {
      sendError(res, e);
    }
  });
}

/** Handler for the metrics port: /metrics, liveness for probes, and /fault (fault-admin.ts, which answers 404 unless enabled). */
export function metricsHandler(metrics: SidecarMetrics, faultAdmin: http.RequestListener): http.RequestListener {
  return (req, res) => {
    const url = (req.url ?? '/').split('?')[0];
    if (url === FAULT_PATH) return faultAdmin(req, res);
    if (url === '/metrics') {
      metrics.registry.metrics().then(
        (text) => {
          res.writeHead(200, { 'content-type': metrics.registry.contentType });
          res.end(text);
        },
        (e) => sendError(res, e),
      );
      return;
    }
    if (url === '/healthz') return sendJson(res, 200, { live: true });
    sendError(res, notFound(`no route ${url}; metrics are at /metrics, faults at ${FAULT_PATH}`));
  };
}
