// H2Connection and UpstreamPool lifecycle against a real node:http2 server:
// close() really closes the connection, a GOAWAY moves new calls to a fresh
// connection, and (in a child process, the only place "can the process exit"
// is observable) a pool keeps the process alive while a call is out and not
// after it ended and the pool closed; deadlines are read on the pool's clock.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import * as http2 from 'node:http2';
import * as path from 'node:path';
import * as grpc from '@grpc/grpc-js';
import { H2Connection } from '../../../balancer/upstream/connection';
import { UpstreamPool, UpstreamPools } from '../../../balancer/upstream/pool';
import { INFER_METHODS } from '../../../balancer/upstream/types';
import { frame } from '../../../protocol/grpc-wire';
import { Status } from '../../../protocol/status';
import { FakeClock } from '../../helpers/fake-clock';

/** A gRPC-ish server answering every call with one message after delayMs (Infinity: never), counting sessions. */
async function server(delayMs = 0) {
  const s = http2.createServer();
  const sessions = new Set<http2.ServerHttp2Session>();
  s.on('session', (x) => {
    sessions.add(x);
    x.on('close', () => sessions.delete(x));
  });
  s.on('stream', (st) => {
    st.on('data', () => undefined);
    if (delayMs === Infinity) return;
    st.on('end', () =>
      setTimeout(() => {
        if (st.closed) return;
        st.respond({ ':status': 200, 'content-type': 'application/grpc' }, { waitForTrailers: true });
        st.once('wantTrailers', () => st.sendTrailers({ 'grpc-status': '0' }));
        st.end(frame(Buffer.from([0x0a, 0x01, 0x6d])));
      }, delayMs),
    );
  });
  await new Promise<void>((r) => s.listen(0, '127.0.0.1', r));
  return { s, sessions, port: (s.address() as { port: number }).port };
}

const call = (pool: UpstreamPool) =>
  new Promise<Status>((resolve) =>
    pool.call(INFER_METHODS.infer, Buffer.from([0x0a, 0x01, 0x6d]), new grpc.Metadata(), Infinity, (r) => resolve(r.code)),
  );

test('close() closes the connection the server sees; later acquires throw', async () => {
  const srv = await server();
  const pool = new UpstreamPool(`127.0.0.1:${srv.port}`, 1);
  assert.equal(await call(pool), Status.OK);
  assert.equal(srv.sessions.size, 1);
  pool.close();
  const until = Date.now() + 2000;
  while (srv.sessions.size > 0) {
    assert.ok(Date.now() < until, 'the server saw the connection close');
    await new Promise((r) => setTimeout(r, 10));
  }
  assert.equal(await call(pool), Status.UNAVAILABLE, 'a closed pool fails calls, as connection failures');
  srv.s.close();
});

test("a unary call's deadline is on the pool's clock: it ends DEADLINE_EXCEEDED when that clock passes it", async () => {
  const srv = await server(Infinity); // never answers
  const clock = new FakeClock();
  const pool = new UpstreamPool(`127.0.0.1:${srv.port}`, 1, clock);
  const heard: string[] = [];
  pool.call(INFER_METHODS.infer, Buffer.from([0x0a, 0x01, 0x6d]), new grpc.Metadata(), clock.now() + 500, (r) =>
    heard.push(Status[r.code]),
  );
  assert.equal(clock.pending(), 1, 'one deadline timer, set on the fake clock');
  clock.advance(499);
  await new Promise((r) => setTimeout(r, 20));
  assert.deepEqual(heard, []);
  clock.advance(1);
  const until = Date.now() + 2000;
  while (heard.length === 0) {
    assert.ok(Date.now() < until, 'the call ended');
    await new Promise((r) => setTimeout(r, 5));
  }
  assert.deepEqual(heard, ['DEADLINE_EXCEEDED']);
  pool.close();
  for (const x of srv.sessions) x.destroy();
  srv.s.close();
});

test('after GOAWAY, new calls take a fresh connection and the old one finishes its call', async () => {
  const srv = await server(100);
  const conn = new H2Connection(`127.0.0.1:${srv.port}`);
  const first = conn.acquire();
  await new Promise<void>((r) => (first.connecting ? first.once('connect', () => r()) : r()));
  const [serverSide] = [...srv.sessions];
  serverSide.goaway();
  await new Promise((r) => setTimeout(r, 50));
  const second = conn.acquire();
  assert.notEqual(second, first, 'a GOAWAY session is not reused');
  conn.release(first);
  assert.ok(first.closed || first.destroyed, 'the replaced session closes once its last stream is released');
  conn.release(second);
  conn.close();
  srv.s.close();
});

test('a pool holds the process open while a call is out, and lets it exit once closed', async () => {
  const srv = await server(300);
  const script = `
    const grpc = require('@grpc/grpc-js');
    const { UpstreamPool } = require(${JSON.stringify(path.resolve(__dirname, '../../../balancer/upstream/pool.js'))});
    const { INFER_METHODS } = require(${JSON.stringify(path.resolve(__dirname, '../../../balancer/upstream/types.js'))});
    const pool = new UpstreamPool('127.0.0.1:${srv.port}', 2);
    pool.call(INFER_METHODS.infer, Buffer.from([10, 1, 109]), new grpc.Metadata(), Infinity, (r) => {
      process.stdout.write('answered ' + r.code + '\\n');
      pool.close();
    });`;
  const child = spawn(process.execPath, ['-e', script], {
    cwd: path.resolve(__dirname, '../../../..'),
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  let out = '';
  child.stdout.on('data', (c: Buffer) => (out += c.toString()));
  const code = await new Promise<number | null>((resolve) => {
    const t = setTimeout(() => child.kill('SIGKILL'), 5000);
    child.once('exit', (c) => {
      clearTimeout(t);
      resolve(c);
    });
  });
  assert.equal(out.trim(), 'answered 0', 'the call was not abandoned when the script returned (the pool held the process)');
  assert.equal(code, 0, 'and the process exited on its own after close()');
  srv.s.close();
});

test('a pool that UpstreamPools creates connects before its first call; a refused preconnect fails nothing', async () => {
  const srv = await server();
  const pools = new UpstreamPools(2);
  const pool = pools.acquire(`127.0.0.1:${srv.port}`);
  const until = Date.now() + 2000;
  while (srv.sessions.size < 2) {
    assert.ok(Date.now() < until, `the server saw ${srv.sessions.size} of 2 connections without a call`);
    await new Promise((r) => setTimeout(r, 10));
  }
  assert.equal(await call(pool), Status.OK);
  assert.equal(srv.sessions.size, 2, 'the call used a preconnected session');
  // Nothing listens on the closed server's port: the preconnect fails quietly, calls fail as connection failures.
  pools.release(`127.0.0.1:${srv.port}`);
  srv.s.close();
  for (const x of srv.sessions) x.destroy();
  const dead = pools.acquire(`127.0.0.1:${srv.port}`);
  assert.equal(await call(dead), Status.UNAVAILABLE);
  pools.release(`127.0.0.1:${srv.port}`);
});
