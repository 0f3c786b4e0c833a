// The clusters' view of which models exist (NOT_FOUND vs UNAVAILABLE, and
// forgetting a model whose endpoints left) and the one log line each routing
// state change writes: no line per call, one per transition.
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { Status } from '../../../protocol/status';
import { parseRoutingConfig } from '../../../routing-config/parse';
import type { ClusterChange, ClusterEndpoint } from '../../../discovery/types';
import { Clusters } from '../../../balancer/routing/clusters';
import { UpstreamPools } from '../../../balancer/upstream/pool';
import { endpoint } from '../../helpers/balancer-fixture';
import { captureLogger } from '../../helpers/capture-log';
import { FakeClock } from '../../helpers/fake-clock';

const FORGET_MS = 60_000;

function setup(yaml?: string) {
  const clock = new FakeClock(0);
  const log = captureLogger();
  const clusters = new Clusters(new UpstreamPools(1, clock), 'a', clock, log, undefined, FORGET_MS);
  if (yaml) clusters.setConfig(parseRoutingConfig(yaml, 'routing.yaml'));
  /** The events logged so far as 'event model endpoint', then forgotten. */
  const events = (): string[] => log.lines.splice(0).map((l) => [l.fields.event, l.fields.model, l.fields.endpoint ?? ''].join(' ').trim());
  return { clock, log, clusters, events };
}

const change = (type: ClusterChange['type'], model: string, ep: ClusterEndpoint): ClusterChange => ({ type, cluster: model, endpoint: ep });

describe('Clusters.noEndpoint: unknown models are NOT_FOUND, known ones without an endpoint UNAVAILABLE', () => {
  type Setup = ReturnType<typeof setup>;
  const cases: Array<[name: string, yaml: string | undefined, steps: (s: Setup) => void, model: string, code: Status, msg: RegExp]> = [
    ['before the view is current even an unknown model is UNAVAILABLE', undefined, () => undefined, 'x', Status.UNAVAILABLE, /'x' yet/],
    ['an unknown model once the view is current', undefined, (s) => s.clusters.markCurrent(), 'x', Status.NOT_FOUND, /unknown model 'x'/],
    [
      'a model whose last endpoint just left',
      undefined,
      (s) => {
        s.clusters.markCurrent();
        s.clusters.apply([change('INSERT', 'm', endpoint('e0'))]);
        s.clusters.apply([change('REMOVE', 'm', endpoint('e0'))]);
      },
      'm',
      Status.UNAVAILABLE,
      /no endpoint serves model 'm' now/,
    ],
    [
      'a model forgotten forgetAfterMs after its last endpoint left',
      undefined,
      (s) => {
        s.clusters.markCurrent();
        s.clusters.apply([change('INSERT', 'm', endpoint('e0'))]);
        s.clusters.apply([change('REMOVE', 'm', endpoint('e0'))]);
        s.clock.advance(FORGET_MS);
      },
      'm',
      Status.NOT_FOUND,
      /unknown model 'm'/,
    ],
    [
      "an objective's model",
      'objectives: { o: { model: planned } }\n',
      (s) => s.clusters.markCurrent(),
      'planned',
      Status.UNAVAILABLE,
      /'planned' now/,
    ],
    [
      'a model configured under models:',
      'models: { tuned: {} }\n',
      (s) => s.clusters.markCurrent(),
      'tuned',
      Status.UNAVAILABLE,
      /'tuned'/,
    ],
    [
      "a static endpoint's model",
      'endpoints: [{ address: "h:1", models: { triton: [] } }]\n',
      (s) => s.clusters.markCurrent(),
      'triton',
      Status.UNAVAILABLE,
      /'triton'/,
    ],
  ];
  for (const [name, yaml, steps, model, code, msg] of cases) {
    test(name, () => {
      const s = setup(yaml);
      try {
        steps(s);
        const why = s.clusters.noEndpoint(model);
        assert.equal(Status[why.code], Status[code]);
        assert.match(why.details, msg);
      } finally {
        s.clusters.close();
      }
    });
  }
});

describe('forgetting a model', () => {
  test('is logged once, drops the cluster, and an endpoint joining within the wait keeps it', () => {
    const s = setup();
    try {
      s.clusters.apply([change('INSERT', 'gone', endpoint('e0')), change('INSERT', 'back', endpoint('e1'))]);
      s.clusters.apply([change('REMOVE', 'gone', endpoint('e0')), change('REMOVE', 'back', endpoint('e1'))]);
      s.clock.advance(FORGET_MS / 2);
      s.clusters.apply([change('INSERT', 'back', endpoint('e2'))]);
      s.events();
      s.clock.advance(FORGET_MS);
      assert.deepEqual(s.events(), ['model_forgotten gone']);
      assert.deepEqual([...s.clusters.byModel.keys()], ['back']);
      assert.equal(s.clusters.get('back')!.members.size, 1);
    } finally {
      s.clusters.close();
    }
  });

  test('a REMOVE for a model never seen creates nothing and logs nothing', () => {
    const s = setup();
    s.clusters.apply([change('REMOVE', 'never', endpoint('e0'))]);
    assert.equal(s.clusters.byModel.size, 0);
    assert.deepEqual(s.events(), []);
    s.clusters.close();
  });
});

describe('routing state changes log one line each', () => {
  test('added, draining, back to health, drained by an override, removed; load-only updates log nothing', () => {
    const s = setup();
    try {
      s.clusters.apply([change('INSERT', 'm', endpoint('e0')), change('INSERT', 'm', endpoint('e1'))]);
      assert.deepEqual(s.events(), ['endpoint_added m e0', 'endpoint_added m e1']);
      for (let i = 1; i <= 3; i++)
        s.clusters.apply([change('UPDATE', 'm', endpoint('e0', { load: { queueDepth: i, inFlight: i, latencyMs: i } }))]);
      assert.deepEqual(s.events(), [], 'heartbeats that move only the load');
      s.clusters.apply([change('UPDATE', 'm', endpoint('e0', { health: 'DRAINING' }))]);
      s.clusters.apply([change('UPDATE', 'm', endpoint('e0', { health: 'DRAINING', load: { queueDepth: 9, inFlight: 0, latencyMs: 1 } }))]);
      const draining = s.log.lines[0];
      assert.deepEqual(s.events(), ['endpoint_draining m e0'], 'once, not again while it stays draining');
      assert.deepEqual(draining.fields, {
        event: 'endpoint_draining',
        model: 'm',
        endpoint: 'e0',
        address: 'e0:8001',
        reason: 'discovery reports DRAINING',
      });
      s.clusters.apply([change('UPDATE', 'm', endpoint('e0'))]);
      assert.deepEqual(s.events(), ['endpoint_healthy m e0']);
      s.clusters.setConfig(parseRoutingConfig('endpoint_overrides: { "e1:8001": { drain: true } }\n', 'routing.yaml'));
      assert.equal(s.log.lines[0].fields.reason, 'routing config endpoint_overrides');
      assert.deepEqual(s.events(), ['endpoint_draining m e1']);
      s.clusters.apply([change('REMOVE', 'm', endpoint('e0')), change('REMOVE', 'm', endpoint('e0'))]);
      assert.deepEqual(s.events(), ['endpoint_removed m e0'], 'a repeated REMOVE changes nothing');
    } finally {
      s.clusters.close();
    }
  });

  test('ejected and returned once each; the breaker full once when the cap is reached and clear once when a slot frees', () => {
    const s = setup(
      'defaults:\n  outlier_detection: { consecutive_failures: 2, base_ejection_ms: 1000, max_ejection_percent: 100 }\n  circuit_breaker: { max_in_flight: 2 }\n',
    );
    try {
      s.clusters.apply([change('INSERT', 'm', endpoint('e0')), change('INSERT', 'm', endpoint('e1'))]);
      s.events();
      const e0 = s.clusters.get('m')!.members.get('e0')!.state;
      for (let i = 0; i < 50; i++) {
        assert.ok(e0.tryStart());
        e0.onCallEnded(Status.OK, 0);
      }
      assert.deepEqual(s.events(), [], 'calls log nothing');
      for (let i = 0; i < 2; i++) {
        assert.ok(e0.tryStart());
        e0.onCallEnded(Status.UNAVAILABLE, 0);
      }
      const ejected = s.log.lines[0];
      assert.deepEqual(s.events(), ['endpoint_ejected m e0']);
      assert.equal(ejected.level, 'warn');
      assert.match(String(ejected.fields.reason), /2 consecutive failures; ejected for 1000 ms/);
      s.clock.advance(1000);
      assert.deepEqual(s.events(), ['endpoint_returned m e0']);

      assert.ok(e0.tryStart());
      assert.ok(e0.tryStart());
      assert.ok(!e0.tryStart(), 'the cap holds');
      assert.ok(!e0.tryStart());
      assert.deepEqual(s.events(), ['breaker_full m e0'], 'full once, however many calls it turns away');
      e0.onCallEnded(Status.OK, 0);
      assert.ok(e0.tryStart());
      e0.onCallEnded(Status.OK, 0);
      e0.onCallEnded(Status.OK, 0);
      assert.deepEqual(s.events(), ['breaker_clear m e0', 'breaker_full m e0', 'breaker_clear m e0']);
    } finally {
      s.clusters.close();
    }
  });
});
