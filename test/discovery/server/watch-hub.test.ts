// The watch hub's warm-up (static stability across a discovery restart):
// within warmUpMs of start every message says partial, so watchers merge
// rather than replace their views; when it ends every watcher gets one
// message with partial false and no changes, and later ones are complete.
// Over loopback gRPC with the in-memory store on a fake clock.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import type { DiscoveryServer } from '../../../discovery/server/server';
import type { DiscoveryClient } from '../../../discovery/wire';
import { FakeClock } from '../../helpers/fake-clock';
import { client, register, sidecarReq, startTestDiscovery, WatchQueue } from '../../helpers/discovery-fixture';

let clock: FakeClock;
let server: DiscoveryServer;
let c: DiscoveryClient;
const watches: WatchQueue[] = [];

before(async () => {
  clock = new FakeClock();
  server = await startTestDiscovery({ clock, leaseTtlMs: 60_000, warmUpMs: 5000 });
  c = client(server.grpcPort);
});

after(async () => {
  for (const w of watches) w.close();
  c.close();
  await server.close();
});

test('partial within the warm-up, one complete message with no changes at its end, complete after', async () => {
  await register(c, sidecarReq(1));
  const w = new WatchQueue(c, { watcher_id: 'during' });
  watches.push(w);
  const snap = await w.next();
  assert.deepEqual([snap.snapshot, snap.partial], [true, true]);
  assert.equal(server.hub.partial, true);
  await register(c, sidecarReq(2));
  const d = await w.next();
  assert.deepEqual([d.snapshot, d.partial, d.changes.length], [false, true, 1]);

  clock.advance(5000);
  const end = await w.next();
  assert.deepEqual([end.snapshot, end.partial, end.changes.length, end.version], [false, false, 0, d.version]);
  assert.equal(server.hub.partial, false);

  await register(c, sidecarReq(3));
  const after = await w.next();
  assert.deepEqual([after.partial, after.changes.length], [false, 1]);
  const late = new WatchQueue(c, { watcher_id: 'after' });
  watches.push(late);
  const lateSnap = await late.next();
  assert.deepEqual([lateSnap.snapshot, lateSnap.partial, lateSnap.clusters[0].endpoints.length], [true, false, 3]);
});
