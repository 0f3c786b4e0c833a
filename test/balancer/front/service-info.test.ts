// ServerReady's rule (ServerReady, /v2/health/ready, /readyz): the view is
// current and at least one model can be routed. First the rule as a table,
// then over real clusters fed the changes discovery sends, on a fake clock.
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { Status } from '../../../protocol/status';
import { parseRoutingConfig } from '../../../routing-config/parse';
import type { ClusterChange, ClusterEndpoint } from '../../../discovery/types';
import { isReady, logReadinessFlips, modelRoutable, readiness, unroutableReason } from '../../../balancer/front/service-info';
import { Clusters } from '../../../balancer/routing/clusters';
import { UpstreamPools } from '../../../balancer/upstream/pool';
import { endpoint } from '../../helpers/balancer-fixture';
import { captureLogger } from '../../helpers/capture-log';
import { FakeClock } from '../../helpers/fake-clock';

test('the readiness rule: a current view and some routable model', () => {
  const m = (model: string, routable: boolean) => ({ model, routable });
  const cases: Array<[name: string, current: boolean, models: ReturnType<typeof m>[], ready: boolean, reason: RegExp]> = [
    ['no view yet, even with a routable model', false, [m('a', true)], false, /no view of the endpoints yet/],
    ['a current view without models', true, [], false, /no model has a candidate endpoint \(0 known/],
    ['one routable model', true, [m('a', true)], true, /1 of 1 models routable \(a\)/],
    [
      'one of two models routable (the other lost its endpoints)',
      true,
      [m('a', true), m('b', false)],
      true,
      /1 of 2 models routable \(a\)/,
    ],
    ['no model routable', true, [m('a', false), m('b', false)], false, /no model has a candidate endpoint \(2 known without one\)/],
  ];
  for (const [name, current, models, ready, reason] of cases) {
    const r = readiness({ current, models });
    assert.equal(r.ready, ready, name);
    assert.match(r.reason, reason, name);
  }
});

describe('readiness over real clusters', () => {
  const ins = (model: string, ep: ClusterEndpoint): ClusterChange => ({ type: 'INSERT', cluster: model, endpoint: ep });
  const rm = (model: string, ep: ClusterEndpoint): ClusterChange => ({ type: 'REMOVE', cluster: model, endpoint: ep });
  const upd = (model: string, ep: ClusterEndpoint): ClusterChange => ({ type: 'UPDATE', cluster: model, endpoint: ep });

  function setup(yaml?: string) {
    const clock = new FakeClock(0);
    const log = captureLogger();
    const clusters = new Clusters(new UpstreamPools(1, clock), '', clock, log, undefined, 60_000);
    if (yaml) clusters.setConfig(parseRoutingConfig(yaml, 'routing.yaml'));
    return { clock, log, clusters };
  }

  test('endpoints without a current view are not ready; the first snapshot makes it so', () => {
    const { clusters } = setup();
    clusters.apply([ins('a', endpoint('e0'))]);
    assert.equal(isReady(clusters), false);
    clusters.markCurrent();
    assert.equal(isReady(clusters), true);
    clusters.close();
  });

  test('one of two models losing its only endpoint leaves the balancer ready, and that model not routable', () => {
    const { clusters, clock } = setup();
    clusters.markCurrent();
    clusters.apply([ins('a', endpoint('e0')), ins('b', endpoint('e1'))]);
    clusters.apply([rm('b', endpoint('e1'))]);
    assert.equal(isReady(clusters), true);
    assert.equal(modelRoutable(clusters, 'b', ''), false);
    assert.equal(modelRoutable(clusters, 'a', ''), true);
    assert.match(unroutableReason(clusters, 'b', '', clock.now()), /no endpoint serves model 'b' now/);
    clock.advance(60_000);
    assert.deepEqual([...clusters.byModel.keys()], ['a'], 'b is forgotten: not listed, not counted');
    clusters.close();
  });

  test('every endpoint draining is not ready; every endpoint ejected still is (panic routes to them); full breakers still are', () => {
    const { clusters, clock } = setup(
      'defaults:\n  outlier_detection: { consecutive_failures: 1, max_ejection_percent: 100 }\n  circuit_breaker: { max_in_flight: 1 }\n',
    );
    clusters.markCurrent();
    clusters.apply([ins('a', endpoint('e0', { versions: ['1'] }))]);
    const s = clusters.get('a')!.members.get('e0')!.state;
    assert.ok(s.tryStart());
    assert.equal(isReady(clusters), true, 'an endpoint at its in-flight cap is load, not unreadiness');
    s.onCallEnded(Status.UNAVAILABLE, 0); // one failure ejects
    assert.equal(clusters.get('a')!.ejectedCount, 1);
    assert.equal(isReady(clusters), true, 'panic: the ejected endpoint is still a candidate');
    clusters.apply([upd('a', endpoint('e0', { versions: ['1'], health: 'DRAINING' }))]);
    assert.equal(isReady(clusters), false);
    assert.match(unroutableReason(clusters, 'a', '', clock.now()), /every endpoint of model 'a' is draining/);
    assert.match(unroutableReason(clusters, 'a', '7', clock.now()), /no endpoint of model 'a' serves version '7'/);
    clusters.close();
  });

  test('each flip logs one line; changes that keep readiness log none', () => {
    const { clusters, log } = setup();
    const stop = logReadinessFlips(clusters, log);
    const flips = () => log.lines.filter((l) => l.fields.event === 'readiness').map((l) => `${l.msg}: ${String(l.fields.reason)}`);
    clusters.apply([ins('a', endpoint('e0'))]);
    assert.deepEqual(flips(), [], 'not ready before the view is current, as it started');
    clusters.markCurrent();
    clusters.apply([ins('a', endpoint('e1')), ins('b', endpoint('e2'))]);
    clusters.apply([rm('b', endpoint('e2'))]);
    assert.deepEqual(flips(), ['balancer ready: 1 of 1 models routable (a)']);
    clusters.apply([rm('a', endpoint('e0')), rm('a', endpoint('e1'))]);
    assert.deepEqual(flips().slice(1), ['balancer not ready: no model has a candidate endpoint (2 known without one)']);
    stop();
    clusters.close();
  });
});
