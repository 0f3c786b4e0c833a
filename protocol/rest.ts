// The REST face's answers, the same from the sidecar and the balancer: a
// JSON body, or {"error": "..."} with the HTTP status that matches the gRPC
// status the same failure gets over gRPC; and the HTTP server both listen on.
import * as http from 'node:http';
import { httpStatusOf, toInferError } from './status';
import { listenOn } from '../common/listen';
import { noop } from '../common/noop';

/** Largest request body accepted (bytes); larger bodies get 413. */
export const MAX_BODY_BYTES = 64 * 1024 * 1024;

/** Answers with a JSON body (a string is sent as is); does nothing once an answer started or the client left. */
export function sendJson(res: http.ServerResponse, status: number, body: unknown): void {
  // The client may have gone, or an answer already started (a late outcome after cancel).
  if (res.headersSent || res.destroyed) return;
  const text = typeof body === 'string' ? body : JSON.stringify(body);
  res.writeHead(status, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(text) });
  res.end(text);
}

/** Answers {"error": ...} with the HTTP status of the error's gRPC status. */
export function sendError(res: http.ServerResponse, err: unknown): void {
  const e = toInferError(err);
  sendJson(res, httpStatusOf(e.code), { error: e.message });
}

/** Starts an HTTP server on host:port (0: a free port); resolves with the server once it listens. */
export async function listenHttp(handler: http.RequestListener, host: string, port: number): Promise<http.Server> {
  const server = http.createServer(handler);
  server.keepAliveTimeout = 65_000;
  await listenOn(server, host, port);
  // Accept errors (EMFILE...) are transient and the listening socket stays, as on the gRPC ports: an
  // 'error' event with no listener would end the process and every call in it.
  server.on('error', noop);
  return server;
}
