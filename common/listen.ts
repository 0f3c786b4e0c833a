// Binding a server and stopping it within a deadline, for both gRPC faces:
// the sidecar's node:http2 server (sidecar/server/h2-server.ts) and the
// balancer's front on the JavaScript HTTP/2 server (http2/listener.ts, which
// imports nothing of the project, so the front applies these to it).
import type * as net from 'node:net';
import { systemClock, type Clock } from './clock';

/** Binds server to host:port (0: a free port); resolves with the port. */
export function listenOn(server: net.Server, host: string, port: number): Promise<number> {
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, host, () => {
      server.off('error', reject);
      resolve((server.address() as net.AddressInfo).port);
    });
  });
}

/** closed, or cut() once drainMs have passed on clock without it (Infinity: no deadline). */
export function drainWithin(closed: Promise<void>, drainMs: number, cut: () => void, clock: Clock = systemClock): Promise<void> {
  if (!Number.isFinite(drainMs)) return closed;
  const timer = clock.setTimeout(cut, drainMs);
  return closed.then(() => clock.clearTimeout(timer));
}
