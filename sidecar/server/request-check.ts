// Validation shared by every protocol surface. The gRPC and REST decoders turn
// their wire form into DecodedInput[]; this file checks those against the
// model's config and computes what the batcher needs (rows, shape key,
// priority, deadline). Every rejection names what was wrong and what was expected.
import { invalidArgument } from '../../protocol/status';
import type { ModelConfig, TensorSpec } from '../repository/config-types';
import { elementCount, type Datatype, type Tensor } from '../../protocol/tensor';
import type { DecodedInput } from '../../protocol/decoded-request';

/** What the batcher needs, derived from validated inputs. */
export interface CheckedInputs {
  readonly inputs: Tensor[];
  readonly batchSize: number;
  readonly shapeKey: string;
}

const fmt = (shape: readonly number[]) => `[${shape.join(',')}]`;

/** The expected full shape of a spec, -1 for variable dims, with the batch dim when batching. */
export function expectedShape(config: ModelConfig, spec: TensorSpec): number[] {
  return config.max_batch_size > 0 ? [-1, ...spec.dims] : [...spec.dims];
}

/** Checks inputs against the config and orders them as the config does. */
export function checkInputs(config: ModelConfig, decoded: readonly DecodedInput[]): CheckedInputs {
  const byName = new Map<string, DecodedInput>();
  for (const d of decoded) {
    if (byName.has(d.name)) throw invalidArgument(`input '${d.name}' appears more than once; each input must be given once`);
    if (!config.inputs.some((s) => s.name === d.name)) {
      throw invalidArgument(
        `unexpected input '${d.name}' for model '${config.name}'; expected inputs: ${config.inputs.map((s) => s.name).join(', ')}`,
      );
    }
    byName.set(d.name, d);
  }
  const batching = config.max_batch_size > 0;
  let batchSize = 1;
  let shapeKey = '';
  const inputs: Tensor[] = [];
  for (let i = 0; i < config.inputs.length; i++) {
    const spec = config.inputs[i];
    const d = byName.get(spec.name);
    if (!d)
      throw invalidArgument(
        `missing input '${spec.name}' for model '${config.name}'; expected ${spec.datatype} ${fmt(expectedShape(config, spec))}`,
      );
    if (d.datatype !== spec.datatype) {
      throw invalidArgument(`input '${spec.name}' has datatype ${d.datatype || '(empty)'}; expected ${spec.datatype}`);
    }
    checkShape(config, spec, d.shape);
    if (batching) {
      const rows = d.shape[0];
      if (i === 0) batchSize = rows;
      else if (rows !== batchSize) {
        throw invalidArgument(
          `input '${spec.name}' has batch size ${rows} but input '${config.inputs[0].name}' has ${batchSize}; all inputs must agree on dim 0`,
        );
      }
    }
    const want = elementCount(d.shape);
    if (d.data.length !== want) {
      throw invalidArgument(`input '${spec.name}' holds ${d.data.length} elements; shape ${fmt(d.shape)} needs ${want}`);
    }
    shapeKey += (batching ? d.shape.slice(1) : d.shape).join(',') + ';';
    inputs.push({ name: spec.name, datatype: spec.datatype as Datatype, shape: d.shape, data: d.data });
  }
  return { inputs, batchSize, shapeKey };
}

function checkShape(config: ModelConfig, spec: TensorSpec, shape: readonly number[]): void {
  const want = expectedShape(config, spec);
  const bad = () => invalidArgument(`input '${spec.name}' has shape ${fmt(shape)}; expected ${fmt(want)} (-1 = any size)`);
  if (shape.length !== want.length) throw bad();
  for (let k = 0; k < shape.length; k++) {
    const got = shape[k];
    if (!Number.isInteger(got) || got < 0) throw bad();
    if (want[k] !== -1 && want[k] !== got) throw bad();
  }
  if (config.max_batch_size > 0) {
    const rows = shape[0];
    if (rows < 1 || rows > config.max_batch_size) {
      throw invalidArgument(
        `input '${spec.name}' has batch size ${rows}; model '${config.name}' accepts 1 to ${config.max_batch_size} (max_batch_size)`,
      );
    }
  }
}

/** Checks requested output names; undefined when none are named (all outputs). */
export function checkOutputs(config: ModelConfig, names: readonly string[]): string[] | undefined {
  if (names.length === 0) return undefined;
  const seen = new Set<string>();
  for (const n of names) {
    if (!config.outputs.some((s) => s.name === n)) {
      throw invalidArgument(
        `requested output '${n}' does not exist; model '${config.name}' has outputs: ${config.outputs.map((s) => s.name).join(', ')}`,
      );
    }
    if (seen.has(n)) throw invalidArgument(`output '${n}' is requested more than once`);
    seen.add(n);
  }
  return [...names];
}

/** Resolves the priority level (1 = highest) with Triton's rules. */
export function resolvePriority(config: ModelConfig, p: number | undefined): number {
  const db = config.dynamic_batching;
  const levels = Math.max(1, db?.priority_levels ?? 1);
  const def = db && db.default_priority_level > 0 ? db.default_priority_level : levels;
  if (p === undefined || p === 0) return def;
  if (!Number.isInteger(p) || p < 0 || p > levels) {
    throw invalidArgument(`parameter 'priority' is ${p}; model '${config.name}' has priority levels 1 to ${levels} (0 = default)`);
  }
  return p;
}

/**
 * The clock time after which the request must not start computing: the
 * earlier of the caller's deadline and the queue timeout. A request timeout
 * applies when the model sets no default, or when overrides are allowed and it
 * is shorter (Triton: a request may shorten, never lengthen, the default).
 */
export function resolveDeadline(config: ModelConfig, now: number, callerDeadline: number, timeoutUs: number | undefined): number {
  if (timeoutUs !== undefined && (!Number.isFinite(timeoutUs) || timeoutUs < 0)) {
    throw invalidArgument(`parameter 'timeout' is ${timeoutUs}; expected a non-negative number of microseconds`);
  }
  const def = config.dynamic_batching?.default_timeout_microseconds ?? 0;
  let queueUs = def > 0 ? def : Infinity;
  if (timeoutUs !== undefined && timeoutUs > 0) {
    if (def === 0 || (config.dynamic_batching?.allow_timeout_override && timeoutUs < def)) queueUs = timeoutUs;
  }
  return Math.min(callerDeadline, now + queueUs / 1000);
}
