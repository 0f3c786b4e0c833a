// The router without sidecars: an expired request is never sent, and the
// route rewrite (objective → model, split → version) appends fields that a
// protobuf decoder reads as overriding the originals.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as grpc from '@grpc/grpc-js';
import { systemClock, seededRandom } from '../../../common/clock';
import { silentLogger } from '../../../common/log';
import { Status } from '../../../protocol/status';
import { inferenceRoot, encodeFp32Request } from '../../../testkit/raw-client';
import { Clusters } from '../../../balancer/routing/clusters';
import { Router, withRoute } from '../../../balancer/routing/router';
import type { RouteOutcome } from '../../../balancer/routing/route-call';
import { UpstreamPools } from '../../../balancer/upstream/pool';
import { endpoint } from '../../helpers/balancer-fixture';

test('an expired request is answered DEADLINE_EXCEEDED without taking an endpoint slot', async () => {
  const clusters = new Clusters(new UpstreamPools(1), 'a', systemClock, silentLogger);
  // Nothing listens on port 1: sending would fail with UNAVAILABLE, not DEADLINE_EXCEEDED.
  clusters.apply([{ type: 'INSERT', cluster: 'ranker', endpoint: endpoint('e0', { address: '127.0.0.1:1' }) }]);
  const router = new Router(clusters, systemClock, seededRandom(1));
  try {
    const out = await new Promise<RouteOutcome>((resolve) =>
      router.infer(
        {
          bytes: encodeFp32Request('ranker', 'features', 1, 4),
          model: 'ranker',
          version: '',
          metadata: new grpc.Metadata(),
          deadline: systemClock.now() - 1,
        },
        resolve,
      ),
    );
    assert.equal(out.code, Status.DEADLINE_EXCEEDED);
    assert.match(out.details, /ranker/);
    assert.equal(clusters.get('ranker')!.members.get('e0')!.state.inFlight, 0);
    assert.equal(router.retriesTotal, 0);
  } finally {
    clusters.close();
  }
});

test('withRoute sets model and version by appending fields, leaving the payload bytes as they were', () => {
  const T = inferenceRoot().lookupType('inference.ModelInferRequest');
  const original = encodeFp32Request('', 'features', 2, 4);
  const routed = withRoute(original, '', '', 'ranker', '2');
  assert.deepEqual(routed.subarray(0, original.length), original);
  const m = T.toObject(T.decode(routed)) as { model_name: string; model_version: string; raw_input_contents: Buffer[] };
  assert.equal(m.model_name, 'ranker');
  assert.equal(m.model_version, '2');
  assert.equal(m.raw_input_contents[0].length, 2 * 4 * 4);
  assert.equal(withRoute(original, 'a', '1', 'a', '1'), original, 'nothing to change: the same buffer');
});
