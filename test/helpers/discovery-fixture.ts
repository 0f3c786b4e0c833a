// Shared pieces for discovery tests: a discovery server on free loopback
// ports, promisified client calls, a queue over a watch stream, and polling
// for conditions that cross process or network boundaries.
import * as net from 'node:net';
import type * as grpc from '@grpc/grpc-js';
import { silentLogger } from '../../common/log';
import { startDiscovery, type DiscoveryOptions, type DiscoveryServer } from '../../discovery/server/server';
import { discoveryClient, type DiscoveryClient } from '../../discovery/wire';
import type { RegisterRequest } from '../../proto/gen/infergate/discovery/v1/RegisterRequest';
import type { RegisterResponse__Output } from '../../proto/gen/infergate/discovery/v1/RegisterResponse';
import type { HeartbeatRequest } from '../../proto/gen/infergate/discovery/v1/HeartbeatRequest';
import type { HeartbeatResponse__Output } from '../../proto/gen/infergate/discovery/v1/HeartbeatResponse';
import type { WatchRequest } from '../../proto/gen/infergate/discovery/v1/WatchRequest';
import type { WatchResponse__Output } from '../../proto/gen/infergate/discovery/v1/WatchResponse';

/**
 * Starts discovery on 127.0.0.1 with free ports and silent logs. No warm-up unless asked for
 * (warmUpMs): a test's first discovery starts with every sidecar yet to come, and the message
 * that ends a warm-up would land in the middle of tests about other things.
 */
export function startTestDiscovery(over: Partial<DiscoveryOptions> = {}): Promise<DiscoveryServer> {
  return startDiscovery({ host: '127.0.0.1', grpcPort: 0, httpPort: 0, log: silentLogger, warmUpMs: 0, ...over });
}

/** A free TCP port on loopback (one implementation, shared with the benchmarks). */
export { freePort } from '../../testkit/processes';

/** A client for discovery on a loopback port. */
export function client(port: number): DiscoveryClient {
  return discoveryClient(`127.0.0.1:${port}`);
}

/** Register, promisified. */
export function register(c: DiscoveryClient, req: RegisterRequest): Promise<RegisterResponse__Output> {
  return new Promise((resolve, reject) => c.Register(req, (e, r) => (e ? reject(e) : resolve(r!))));
}

/** Heartbeat, promisified. */
export function heartbeat(c: DiscoveryClient, req: HeartbeatRequest): Promise<HeartbeatResponse__Output> {
  return new Promise((resolve, reject) => c.Heartbeat(req, (e, r) => (e ? reject(e) : resolve(r!))));
}

/** Deregister, promisified. */
export function deregister(c: DiscoveryClient, lease: string): Promise<void> {
  return new Promise((resolve, reject) => c.Deregister({ lease_id: lease }, (e) => (e ? reject(e) : resolve())));
}

/** A typical registration: one sidecar serving `models` at 10.0.0.<n>:8001. */
export function sidecarReq(n: number, models: string[] = ['ranker'], over: Partial<RegisterRequest> = {}): RegisterRequest {
  return {
    address: `10.0.0.${n}:8001`,
    zone: n % 2 ? 'zone-a' : 'zone-b',
    models: models.map((name) => ({ name, versions: ['1'] })),
    ...over,
  };
}

/** A watch stream with a pull interface: next() waits for the following message. */
export class WatchQueue {
  readonly call: grpc.ClientReadableStream<WatchResponse__Output>;
  private readonly buf: WatchResponse__Output[] = [];
  private waiter: (() => void) | undefined;
  /** Set when the stream failed or ended. */
  error: grpc.ServiceError | undefined;

  constructor(c: DiscoveryClient, req: WatchRequest = {}) {
    this.call = c.Watch(req);
    this.call.on('data', (m: WatchResponse__Output) => {
      this.buf.push(m);
      this.waiter?.();
    });
    this.call.on('error', (e: grpc.ServiceError) => {
      this.error = e;
      this.waiter?.();
    });
  }

  /** The next message; rejects after timeoutMs. */
  async next(timeoutMs = 2000): Promise<WatchResponse__Output> {
    const end = Date.now() + timeoutMs;
    while (this.buf.length === 0) {
      if (this.error && this.error.code !== 1) throw this.error;
      const left = end - Date.now();
      if (left <= 0) throw new Error(`no watch message within ${timeoutMs} ms`);
      await new Promise<void>((resolve) => {
        const t = setTimeout(resolve, left);
        this.waiter = () => {
          clearTimeout(t);
          resolve();
        };
      });
      this.waiter = undefined;
    }
    return this.buf.shift()!;
  }

  /** Resolves true if no message arrives within ms. */
  async quiet(ms: number): Promise<boolean> {
    await new Promise((r) => setTimeout(r, ms));
    return this.buf.length === 0;
  }

  /** Cancels the stream. */
  close(): void {
    this.call.cancel();
  }
}

/** Polls cond every 10 ms until it holds; rejects with `what` after timeoutMs. */
export async function waitFor(cond: () => boolean, what: string, timeoutMs = 3000): Promise<void> {
  const end = Date.now() + timeoutMs;
  while (!cond()) {
    if (Date.now() > end) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 10));
  }
}

/** A TCP proxy on loopback that a test can take down and bring back on the same port (a network cut). */
export class CutProxy {
  private server: net.Server | undefined;
  private readonly sockets = new Set<net.Socket>();

  constructor(
    readonly port: number,
    private readonly target: number,
  ) {}

  /** Starts accepting and forwarding. */
  up(): Promise<void> {
    const server = net.createServer((inbound) => {
      const outbound = net.connect(this.target, '127.0.0.1');
      for (const s of [inbound, outbound]) {
        this.sockets.add(s);
        s.on('close', () => this.sockets.delete(s));
        s.on('error', () => undefined);
      }
      inbound.pipe(outbound).pipe(inbound);
    });
    this.server = server;
    return new Promise((resolve, reject) => {
      server.once('error', reject);
      server.listen(this.port, '127.0.0.1', () => resolve());
    });
  }

  /** Stops accepting and resets every open connection. */
  down(): Promise<void> {
    for (const s of this.sockets) s.resetAndDestroy();
    const server = this.server;
    this.server = undefined;
    return new Promise((resolve) => (server ? server.close(() => resolve()) : resolve()));
  }
}
