// The balancer's REST face (--http-port): the Open Inference Protocol's HTTP
// routes, answered by translating to the gRPC calls the router forwards.
// PLACEHOLDER: filled in by the REST work (issue 4).
import type * as http from 'node:http';
import type { Clock } from '../common/clock';
import type { Clusters } from './cluster';
import type { Router } from './router';

/** What the REST handler needs. */
export interface BalancerRestDeps {
  readonly router: Router;
  readonly clusters: Clusters;
  readonly clock: Clock;
}

/** Request handler for the balancer's REST port. */
export function balancerRestHandler(_deps: BalancerRestDeps): http.RequestListener {
  return (_req, res) => {
    res.writeHead(501, { 'content-type': 'application/json' });
    res.end(JSON.stringify({ error: 'REST is not implemented yet' }));
  };
}
