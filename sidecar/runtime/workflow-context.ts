// How a workflow model calls other models in the same sidecar: straight into
// their schedulers, skipping the protocol, with the same validation and
// batching as any request (so a workflow's calls batch with outside traffic).
import type { Clock } from '../../common/clock';
import type { InferError } from '../../protocol/status';
import type { ModelRegistry } from '../repository/registry';
import { checkInputs, resolvePriority } from '../server/request-check';
import type { QueuedRequest } from '../scheduler/types';
import type { Tensor } from '../../protocol/tensor';
import type { WorkflowContext } from './workflow';

/** One internal request: resolves or rejects a promise on completion. */
class InternalRequest implements QueuedRequest {
  readonly id = '';
  readonly outputs = undefined;
  readonly deadline = Infinity;

  constructor(
    readonly inputs: Tensor[],
    readonly batchSize: number,
    readonly shapeKey: string,
    readonly priority: number,
    readonly arrivedAt: number,
    private readonly resolve: (t: Tensor[]) => void,
    private readonly reject: (e: InferError) => void,
  ) {}

  done(err: InferError | null, outputs?: Tensor[]): void {
    if (err || !outputs) this.reject(err!);
    else this.resolve(outputs);
  }
}

/** The WorkflowContext given to workflow modules; usable once bound to the registry. */
export class InternalCaller implements WorkflowContext {
  private registry: ModelRegistry | undefined;

  constructor(private readonly clock: Clock) {}

  /** Binds the registry, once every model is loaded. */
  bind(registry: ModelRegistry): void {
    this.registry = registry;
  }

  infer(model: string, version: string | undefined, inputs: Tensor[]): Promise<Tensor[]> {
    return new Promise((resolve, reject) => {
      if (!this.registry) throw new Error('workflow called a model before the repository finished loading');
      const { model: m, served } = this.registry.resolve(model, version ?? '');
      const checked = checkInputs(m.config, inputs);
      served.scheduler.submit(
        new InternalRequest(
          checked.inputs,
          checked.batchSize,
          checked.shapeKey,
          resolvePriority(m.config, undefined),
          this.clock.now(),
          resolve,
          reject,
        ),
      );
    });
  }
}
