// What the codecs (codec-grpc.ts, codec-json.ts) read off a request for the
// sidecar: its inputs and scheduling parameters as the wire gave them,
// typed but not yet checked against a model's config
// (sidecar/server/request-check.ts does that).
import type { TensorData } from './tensor';

/** An input as a decoder read it, before it is checked against the config. */
export interface DecodedInput {
  readonly name: string;
  readonly datatype: string;
  readonly shape: readonly number[];
  readonly data: TensorData;
}

/** Scheduling parameters a request may carry, already typed by its decoder. */
export interface SchedulingParams {
  /** `priority`: 0 or absent = the model's default level. */
  readonly priority?: number;
  /** `timeout`: queue timeout in microseconds. */
  readonly timeoutUs?: number;
}
