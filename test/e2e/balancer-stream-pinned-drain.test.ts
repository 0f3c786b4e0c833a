// per_stream streams across drains and deaths (balancer/front/stream-pinned.ts,
// pinned-leg.ts): a draining sidecar's pinned streams finish what is on them
// and move to another sidecar before their next message, so a rolling
// restart loses nothing and no sidecar waits for its drain timeout; a leg
// that dies with messages unanswered replays them elsewhere. Real processes:
// three sidecar CLI processes (20 ms of injected delay, so messages are in
// flight when a sidecar goes), discovery and the balancer in this process.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import type * as grpc from '@grpc/grpc-js';
import type { Balancer } from '../../balancer/balancer';
import type { DiscoveryServer } from '../../discovery/server/server';
import { waitFor } from '../helpers/discovery-fixture';
import { served, sidecarProcess, startBalancerFleet, stopBalancerFleet, TestConfig, type SidecarProc } from '../helpers/e2e-fixture';
import { features, rawF32, type InferenceClient } from '../helpers/sidecar-fixture';

const okCount = async (s: SidecarProc) => (await served(s)).OK ?? 0;

/** Long, so a sidecar held by an open stream would visibly wait for it. */
const DRAIN_TIMEOUT_MS = 20_000;
const SIDECAR_FLAGS = ['--fault-delay-ms', '20', '--drain-timeout-ms', String(DRAIN_TIMEOUT_MS)];

interface Answer {
  errorMessage?: string;
  inferResponse: { id: string };
}

const request = (id: string) => ({
  modelName: 'ranker',
  id,
  inputs: [{ name: 'features', datatype: 'FP32', shape: [1, 256] }],
  rawInputContents: [rawF32(features(1))],
});

/** A ModelStreamInfer stream that tallies its answers by id. */
class Tally {
  readonly stream: grpc.ClientDuplexStream<unknown, Answer>;
  readonly sent = new Set<string>();
  readonly ok = new Set<string>();
  readonly errors: string[] = [];
  readonly ended: Promise<void>;
  private n = 0;

  constructor(
    client: InferenceClient,
    private readonly name: string,
    onAnswer: (t: Tally) => void = () => undefined,
  ) {
    this.stream = (client.ModelStreamInfer as () => grpc.ClientDuplexStream<unknown, Answer>)();
    this.ended = new Promise<void>((resolve, reject) => {
      this.stream.on('data', (a: Answer) => {
        if (a.errorMessage) this.errors.push(`${a.inferResponse.id}: ${a.errorMessage}`);
        else this.ok.add(a.inferResponse.id);
        onAnswer(this);
      });
      this.stream.on('end', resolve);
      this.stream.on('error', reject);
    });
    this.ended.catch(() => undefined); // awaited by the tests
  }

  /** Sends one message with a fresh id. */
  send(): void {
    const id = `${this.name}-${this.n++}`;
    this.sent.add(id);
    this.stream.write(request(id));
  }

  get outstanding(): number {
    return this.sent.size - this.ok.size - this.errors.length;
  }
}

describe('per_stream streams across sidecar drains and deaths', () => {
  let discovery: DiscoveryServer;
  let balancer: Balancer;
  let client: InferenceClient;
  const sidecars: SidecarProc[] = [];
  const config = new TestConfig();

  /** Starts one more sidecar and waits until the balancer lists it. */
  const addSidecar = async (): Promise<SidecarProc> => {
    const s = await sidecarProcess(discovery.grpcPort, SIDECAR_FLAGS);
    sidecars.push(s);
    await waitFor(() => balancer.endpoints('ranker').includes(s.address), `${s.address} in the balancer`, 30_000);
    return s;
  };

  before(async () => {
    config.set('defaults: { stream_routing: per_stream }\n');
    ({ discovery, balancer, client } = await startBalancerFleet(config, [], sidecars));
    for (let i = 0; i < 3; i++) await addSidecar();
  });

  after(() => stopBalancerFleet({ client, balancer, discovery }, sidecars));

  test('a rolling SIGTERM of every sidecar under 8 streams loses no message, and each sidecar exits before its drain timeout', async (t) => {
    let stopping = false;
    const WINDOW = 4;
    const tallies = Array.from(
      { length: 8 },
      (_, i) =>
        new Tally(client, `r${i}`, (tl) => {
          while (!stopping && tl.outstanding < WINDOW) tl.send();
        }),
    );
    for (const tl of tallies) for (let i = 0; i < WINDOW; i++) tl.send();
    const exits: number[] = [];
    for (const victim of [...sidecars]) {
      await addSidecar(); // surge first, as a rollout does
      await new Promise((r) => setTimeout(r, 500));
      const t0 = Date.now();
      const code = await new Promise<number | null>((resolve) => {
        victim.child.once('exit', resolve);
        victim.child.kill('SIGTERM');
      });
      exits.push(Date.now() - t0);
      assert.equal(code, 0, `${victim.address} exited 0`);
      sidecars.splice(sidecars.indexOf(victim), 1);
      await waitFor(() => !balancer.endpoints('ranker').includes(victim.address), `${victim.address} gone from the balancer`, 5000);
    }
    await new Promise((r) => setTimeout(r, 500));
    stopping = true;
    await waitFor(() => tallies.every((tl) => tl.outstanding === 0), 'every message answered', 15_000);
    for (const tl of tallies) tl.stream.end();
    await Promise.all(tallies.map((tl) => tl.ended));
    const sent = tallies.reduce((n, tl) => n + tl.sent.size, 0);
    const ok = tallies.reduce((n, tl) => n + tl.ok.size, 0);
    const errors = tallies.flatMap((tl) => tl.errors);
    t.diagnostic(`messages sent ${sent}, OK ${ok}, failed ${errors.length}; sidecars exited ${exits.join(', ')} ms after SIGTERM`);
    assert.deepEqual(errors.slice(0, 5), [], `${errors.length} of ${sent} messages failed`);
    assert.equal(ok, sent);
    for (const ms of exits) assert.ok(ms < DRAIN_TIMEOUT_MS, `a sidecar took ${ms} ms: its drain waited for an open stream`);
  });

  test('an endpoint_overrides drain moves an open stream: what was on it is answered, later messages go to another sidecar', async () => {
    const tl = new Tally(client, 'o');
    tl.send();
    await waitFor(() => tl.ok.size === 1, 'the first answer', 10_000);
    const drained = await pinnedSidecar(balancer, sidecars);
    for (let i = 0; i < 5; i++) tl.send(); // on the stream as the drain comes
    const v = config.set(`defaults: { stream_routing: per_stream }\nendpoint_overrides: { "${drained.address}": { drain: true } }\n`);
    await waitFor(() => balancer.configVersion === v, `config version ${v} in the balancer`, 3000);
    await waitFor(() => tl.outstanding === 0, 'the messages sent before the drain answered', 10_000);
    const before = await okCount(drained);
    for (let i = 0; i < 10; i++) tl.send();
    tl.stream.end();
    await tl.ended;
    assert.deepEqual(tl.errors, []);
    assert.equal(tl.ok.size, 16);
    assert.equal((await okCount(drained)) - before, 0, 'the drained sidecar got nothing after the drain');
    const held = balancer
      .status()
      .clusters.flatMap((c) => c.endpoints)
      .find((e) => e.address === drained.address);
    assert.equal(held?.breakerInFlight, 0, 'the stream no longer holds a slot on the drained sidecar');
    const w = config.set('defaults: { stream_routing: per_stream }\n');
    await waitFor(() => balancer.configVersion === w, `config version ${w} in the balancer`, 3000);
  });

  test('kill -9 of the pinned sidecar with messages unanswered: they are replayed on another sidecar and the stream ends OK', async () => {
    const tl = new Tally(client, 'k');
    tl.send();
    await waitFor(() => tl.ok.size === 1, 'the first answer', 10_000);
    const victim = await pinnedSidecar(balancer, sidecars);
    for (let i = 0; i < 10; i++) tl.send();
    victim.child.kill('SIGKILL');
    sidecars.splice(sidecars.indexOf(victim), 1);
    tl.stream.end();
    await tl.ended;
    assert.deepEqual(tl.errors, []);
    assert.equal(tl.ok.size, 11, `answers: ${[...tl.ok].join(', ')}`);
    await addSidecar();
  });

  test('streams opened just after a sidecar was killed, while the balancer still lists it, are retried elsewhere', async (t) => {
    const victim = sidecars[0];
    victim.child.kill('SIGKILL');
    await new Promise<void>((r) => victim.child.once('exit', () => r()));
    sidecars.splice(0, 1);
    assert.ok(balancer.endpoints('ranker').includes(victim.address), 'the dead sidecar is still a candidate (its lease has not expired)');
    const tallies = Array.from({ length: 30 }, (_, i) => new Tally(client, `n${i}`));
    for (const tl of tallies) {
      for (let i = 0; i < 3; i++) tl.send();
      tl.stream.end();
    }
    await Promise.all(tallies.map((tl) => tl.ended));
    const ok = tallies.reduce((n, tl) => n + tl.ok.size, 0);
    const errors = tallies.flatMap((tl) => tl.errors);
    const dead = await legsEnded(balancer, victim.address, 'UNAVAILABLE');
    t.diagnostic(`streams 30, messages 90, OK ${ok}, failed ${errors.length}; legs on the dead sidecar that failed: ${dead}`);
    assert.deepEqual(errors, []);
    assert.equal(ok, 90);
    assert.ok(dead > 0, 'some streams were pinned to the dead sidecar first');
  });
});

/** The sidecar a balancer's only open stream is pinned to: the one holding an in-flight slot. */
async function pinnedSidecar(balancer: Balancer, sidecars: readonly SidecarProc[]): Promise<SidecarProc> {
  const busy = balancer
    .status()
    .clusters.flatMap((c) => c.endpoints)
    .filter((e) => e.breakerInFlight > 0)
    .map((e) => e.address);
  const s = sidecars.find((x) => busy.includes(x.address));
  assert.ok(s, `one sidecar holds the stream (busy: ${busy.join(', ')})`);
  return s;
}

/** Per_stream legs (or calls) on endpoint that ended with status, from the balancer's metrics. */
async function legsEnded(balancer: Balancer, endpoint: string, status: string): Promise<number> {
  const text = await balancer.metrics.registry.metrics();
  let n = 0;
  for (const m of text.matchAll(/^infergate_balancer_requests_total\{([^}]*)\} (\d+)$/gm)) {
    if (m[1].includes(`endpoint="${endpoint}"`) && m[1].includes(`status="${status}"`)) n += Number(m[2]);
  }
  return n;
}
