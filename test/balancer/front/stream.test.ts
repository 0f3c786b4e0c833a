// The front's ModelStreamInfer path (balancer/front/stream-call.ts) over real
// HTTP/2 on loopback, with a fake router standing in for the sidecars so the
// test decides when each message is answered: flow control in both
// directions (a client sending faster than answers come, and a client that
// does not read its answers) and every message answered exactly once.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import * as http2 from 'node:http2';
import { systemClock } from '../../../common/clock';
import { Status } from '../../../protocol/status';
import type { Clusters } from '../../../balancer/routing/clusters';
import { frame, MessageReader } from '../../../protocol/grpc-wire';
import { Front } from '../../../balancer/front/grpc-front';
import { MAX_STREAM_IN_FLIGHT } from '../../../balancer/front/stream-call';
import type { RouteCall, RouteOutcome } from '../../../balancer/routing/route-call';
import type { Router } from '../../../balancer/routing/router';
import { encodeFp32Request } from '../../../testkit/raw-client';
import { waitFor } from '../../helpers/discovery-fixture';

const STREAM = '/inference.GRPCInferenceService/ModelStreamInfer';
const REQUEST = frame(encodeFp32Request('ranker', 'features', 1, 256));

/** A router that answers nothing until told: held holds every routed message's completion. */
class HoldingRouter {
  readonly held: ((o: RouteOutcome) => void)[] = [];
  routed = 0;
  /** Bytes of each OK answer. */
  answer = Buffer.alloc(16);

  infer(_call: RouteCall, done: (o: RouteOutcome) => void): () => void {
    this.routed++;
    this.held.push(done);
    return () => undefined;
  }

  streamRouting(): 'per_message' {
    return 'per_message';
  }

  /** Answers the n oldest held messages OK. */
  release(n: number): void {
    for (const done of this.held.splice(0, n)) done({ code: Status.OK, details: '', response: this.answer });
  }
}

/** Opens a stream and writes n requests as fast as HTTP/2 flow control lets it; counts answers as they arrive. */
function flood(session: http2.ClientHttp2Session, n: number): { stream: http2.ClientHttp2Stream; answers: () => number } {
  const stream = session.request({ ':method': 'POST', ':path': STREAM, 'content-type': 'application/grpc', te: 'trailers' });
  const reader = new MessageReader();
  let answers = 0;
  stream.on('data', (chunk: Buffer) => reader.push(chunk, () => answers++, undefined));
  stream.on('error', () => undefined);
  let sent = 0;
  const more = (): void => {
    while (sent < n) {
      sent++;
      if (!stream.write(REQUEST)) return void stream.once('drain', more);
    }
    stream.end();
  };
  more();
  return { stream, answers: () => answers };
}

describe('front: ModelStreamInfer flow control', () => {
  let router: HoldingRouter;
  let front: Front;
  let session: http2.ClientHttp2Session;

  before(async () => {
    router = new HoldingRouter();
    front = new Front({ router: router as unknown as Router, clusters: {} as Clusters, clock: systemClock });
    const port = await front.listen('127.0.0.1', 0);
    session = http2.connect(`http://127.0.0.1:${port}`);
    session.on('error', () => undefined);
  });

  after(async () => {
    session?.destroy();
    front?.forceClose();
  });

  test(`a client sending faster than answers come is read only up to ${MAX_STREAM_IN_FLIGHT} open messages, and again once half are answered`, async (t) => {
    router.routed = 0;
    const total = 3 * MAX_STREAM_IN_FLIGHT;
    const f = flood(session, total);
    await waitFor(() => router.routed >= MAX_STREAM_IN_FLIGHT, 'the first messages routed', 10_000);
    await new Promise((r) => setTimeout(r, 200)); // time to read more, if the front would
    t.diagnostic(`routed while nothing was answered: ${router.routed}`);
    // A DATA frame in flight when the stream paused is still read: a few messages past the cap, never many.
    assert.ok(
      router.routed < MAX_STREAM_IN_FLIGHT + 64,
      `routed ${router.routed} with none answered; expected at most ~${MAX_STREAM_IN_FLIGHT}`,
    );
    router.release(MAX_STREAM_IN_FLIGHT / 2 + 1);
    await waitFor(
      () => router.routed >= MAX_STREAM_IN_FLIGHT + MAX_STREAM_IN_FLIGHT / 2,
      'reading resumed after half were answered',
      10_000,
    );
    // Answer everything as it comes: every message is answered once and the stream ends.
    const drain = setInterval(() => router.release(router.held.length), 5);
    try {
      await new Promise<void>((resolve) => f.stream.on('close', resolve));
    } finally {
      clearInterval(drain);
    }
    assert.equal(router.routed, total);
    assert.equal(f.answers(), total);
  });

  test('a client that does not read its answers stops being read, and is read again once it reads', async (t) => {
    router.routed = 0;
    router.answer = Buffer.alloc(32 * 1024); // answers fill the client's 64 KiB window within a few messages
    const total = 3000;
    const f = flood(session, total);
    f.stream.pause();
    const answerAll = setInterval(() => router.release(router.held.length), 5);
    try {
      await waitFor(() => router.routed > 0, 'messages routed', 10_000);
      // Messages read before the first answers backed up are routed; after that, nothing more is read.
      await new Promise((r) => setTimeout(r, 300));
      const first = router.routed;
      await new Promise((r) => setTimeout(r, 300));
      t.diagnostic(`routed while the client read nothing: ${first}, then ${router.routed} of ${total}`);
      assert.ok(first < total, `all ${total} routed while the client read none of its answers`);
      assert.equal(router.routed, first, 'no message was read while the answers waited');
      f.stream.resume();
      await new Promise<void>((resolve) => f.stream.on('close', resolve));
    } finally {
      clearInterval(answerAll);
    }
    assert.equal(router.routed, total);
    assert.equal(f.answers(), total);
  });
});
