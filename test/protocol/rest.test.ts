// protocol/rest.ts: the HTTP server both REST faces and the ops ports listen on.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as http from 'node:http';
import { listenHttp, sendError, sendJson } from '../../protocol/rest';
import { InferError, Status } from '../../protocol/status';

function get(port: number, path: string): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    http
      .get({ host: '127.0.0.1', port, path }, (res) => {
        let body = '';
        res.on('data', (c: Buffer) => (body += c.toString()));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
      })
      .on('error', reject);
  });
}

test('an accept error after binding (EMFILE) leaves the server listening, the process up', async () => {
  const server = await listenHttp((_req, res) => sendJson(res, 200, { ok: true }), '127.0.0.1', 0);
  try {
    const err = Object.assign(new Error('accept EMFILE'), { code: 'EMFILE' });
    assert.doesNotThrow(() => server.emit('error', err));
    const port = (server.address() as { port: number }).port;
    assert.deepEqual(await get(port, '/'), { status: 200, body: '{"ok":true}' });
  } finally {
    server.close();
  }
});

test('a port already taken rejects listenHttp with EADDRINUSE', async () => {
  const first = await listenHttp((_req, res) => res.end(), '127.0.0.1', 0);
  try {
    const port = (first.address() as { port: number }).port;
    await assert.rejects(
      listenHttp((_req, res) => res.end(), '127.0.0.1', port),
      /EADDRINUSE/,
    );
  } finally {
    first.close();
  }
});

test('sendError answers with the HTTP status of the gRPC status and the message', async () => {
  const server = await listenHttp(
    (_req, res) => sendError(res, new InferError(Status.NOT_FOUND, "model 'x' is not served")),
    '127.0.0.1',
    0,
  );
  try {
    const port = (server.address() as { port: number }).port;
    assert.deepEqual(await get(port, '/'), { status: 404, body: '{"error":"model \'x\' is not served"}' });
  } finally {
    server.close();
  }
});
