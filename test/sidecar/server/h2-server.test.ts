// The sidecar's node:http2 server advertises the windows the balancer's
// front does: it writes them itself (sidecar/ imports nothing of http2/),
// and this holds the two equal.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as http2 from 'node:http2';
import { H2Server, WINDOWS } from '../../../sidecar/server/h2-server';
import { DEFAULT_LIMITS } from '../../../http2/session';

test("the sidecar's flow-control windows are the front's (DEFAULT_LIMITS)", () => {
  assert.equal(WINDOWS.stream, DEFAULT_LIMITS.streamWindow);
  assert.equal(WINDOWS.connection, DEFAULT_LIMITS.connectionWindow);
});

test('a client sees the stream window in SETTINGS and the connection window opened up', async () => {
  const server = new H2Server((stream) => stream.respond({ ':status': 200 }, { endStream: true }));
  const port = await server.listen('127.0.0.1', 0);
  const client = http2.connect(`http://127.0.0.1:${port}`);
  try {
    const settings = await new Promise<http2.Settings>((resolve) => client.once('remoteSettings', resolve));
    assert.equal(settings.initialWindowSize, DEFAULT_LIMITS.streamWindow);
    const req = client.request({ ':path': '/' });
    req.resume();
    await new Promise((resolve) => req.once('close', resolve));
    // The server's WINDOW_UPDATE has arrived once a round trip has: the state shows what the peer may receive.
    assert.equal(client.state.remoteWindowSize, DEFAULT_LIMITS.connectionWindow);
  } finally {
    client.close();
    await server.close(1000);
  }
});
