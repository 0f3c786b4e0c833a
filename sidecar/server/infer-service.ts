// The one path every inference takes, whatever surface it came in on:
// resolve model and version, validate, apply faults, queue, and on completion
// record statistics, metrics and load, then answer the caller once.
import type { Clock } from '../../common/clock';
import { deadlineExceeded, statusName, toInferError, type InferError } from '../../protocol/status';
import type { FaultInjector } from './fault';
import type { LoadTracker } from '../../protocol/load-report';
import type { SidecarMetrics } from '../metrics';
import type { ModelRegistry, ServedVersion } from '../repository/registry';
import { checkInputs, checkOutputs, resolveDeadline, resolvePriority } from './request-check';
import type { DecodedInput, SchedulingParams } from '../../protocol/decoded-request';
import type { QueuedRequest, RequestTiming } from '../scheduler/types';
import type { Tensor } from '../../protocol/tensor';

/** What a surface hands to the service. */
export interface InferCall {
  readonly model: string;
  readonly version: string;
  readonly id: string;
  readonly inputs: readonly DecodedInput[];
  readonly outputNames: readonly string[];
  readonly params: SchedulingParams;
  /** Caller's deadline in clock ms (Infinity for none). */
  readonly deadline: number;
}

/** A finished inference. */
export interface InferResult {
  readonly model: string;
  readonly version: string;
  readonly id: string;
  readonly outputs: Tensor[];
}

/** Completion callback; called exactly once. */
export type InferCallback = (err: InferError | null, result?: InferResult) => void;

/**
 * A queued request. A class rather than an object literal with a closure, so
 * the per-request cost is one allocation with a shared done() method.
 */
class Pending implements QueuedRequest {
  constructor(
    readonly svc: InferService,
    readonly served: ServedVersion,
    readonly model: string,
    readonly id: string,
    readonly inputs: Tensor[],
    readonly batchSize: number,
    readonly shapeKey: string,
    readonly priority: number,
    readonly arrivedAt: number,
    readonly deadline: number,
    readonly outputs: readonly string[] | undefined,
    readonly cb: InferCallback,
  ) {}

  done(err: InferError | null, outputs?: Tensor[], timing?: RequestTiming): void {
    this.svc.finish(this, err, outputs, timing);
  }
}

/** Runs inferences against the registry's schedulers. */
export class InferService {
  /** Requests held by the fault delay: accepted, not yet handed to a scheduler. */
  private delayed = 0;
  private onDelayedZero: (() => void) | undefined;

  constructor(
    readonly registry: ModelRegistry,
    private readonly clock: Clock,
    private readonly metrics: SidecarMetrics,
    private readonly load: LoadTracker,
    private readonly fault: FaultInjector,
  ) {}

  /** Validates and queues one inference; cb is called once, possibly synchronously. */
  infer(call: InferCall, cb: InferCallback): void {
    const arrivedAt = this.clock.now();
    let p: Pending;
    try {
      const { model, served } = this.registry.resolve(call.model, call.version);
      const cfg = model.config;
      const checked = checkInputs(cfg, call.inputs);
      const outputs = checkOutputs(cfg, call.outputNames);
      const priority = resolvePriority(cfg, call.params.priority);
      const deadline = resolveDeadline(cfg, arrivedAt, call.deadline, call.params.timeoutUs);
      p = new Pending(
        this,
        served,
        cfg.name,
        call.id,
        checked.inputs,
        checked.batchSize,
        checked.shapeKey,
        priority,
        arrivedAt,
        deadline,
        outputs,
        cb,
      );
    } catch (e) {
      this.countEarlyFailure(call, toInferError(e));
      cb(toInferError(e));
      return;
    }
    this.load.start();
    if (this.fault.active) {
      const err = this.fault.abort();
      if (err) return p.done(err);
      // Read once: PUT /fault may change the settings, and this request keeps the delay it arrived under.
      const delayMs = this.fault.config.delayMs;
      if (delayMs > 0) {
        this.delayed++;
        this.clock.setTimeout(() => this.submitDelayed(p), delayMs);
        return;
      }
    }
    this.submit(p);
  }

  private submitDelayed(p: Pending): void {
    this.submit(p);
    if (--this.delayed === 0) this.onDelayedZero?.();
  }

  /**
   * Lets every accepted request reach its scheduler, then drains the
   * schedulers. Call after the surfaces stopped accepting new calls.
   */
  async drain(): Promise<void> {
    if (this.delayed > 0) await new Promise<void>((resolve) => (this.onDelayedZero = resolve));
    await this.registry.drain();
  }

  private submit(p: Pending): void {
    if (p.deadline <= this.clock.now()) {
      return p.done(deadlineExceeded(`deadline passed before model '${p.model}' could queue the request`));
    }
    p.served.scheduler.submit(p);
  }

  /** Called by Pending.done: bookkeeping, then the caller's callback. */
  finish(p: Pending, err: InferError | null, outputs: Tensor[] | undefined, timing: RequestTiming | undefined): void {
    const totalMs = this.clock.now() - p.arrivedAt;
    this.load.end(totalMs);
    const vm = p.served.metrics;
    vm.latency.observe(totalMs / 1000);
    if (err || !outputs) {
      vm.requests(err ? statusName(err.code) : 'INTERNAL').inc();
      p.served.stats.recordFailure(totalMs);
      p.cb(err ?? toInferError(new Error('scheduler finished without outputs')));
      return;
    }
    vm.ok.inc();
    if (timing) {
      vm.queueTime.observe(timing.queueMs / 1000);
      p.served.stats.recordSuccess(totalMs, timing.queueMs, timing.computeMs, p.batchSize);
    }
    p.cb(null, { model: p.model, version: p.served.version, id: p.id, outputs });
  }

  private countEarlyFailure(call: InferCall, err: InferError): void {
    // Names that resolve count under their version; anything else under one
    // fixed label set, so bad requests cannot grow the metric's cardinality.
    let served: ServedVersion | undefined;
    try {
      served = this.registry.resolve(call.model, call.version).served;
    } catch {
      served = undefined;
    }
    if (served) served.metrics.requests(statusName(err.code)).inc();
    else this.metrics.requests.inc({ model: '(unknown)', version: '', status: statusName(err.code) });
  }
}
