// What a failed call ends with: the project's InferError (protocol/status.ts),
// so code that handles server-side failures handles these too, with the
// status name and the server's text kept apart, since callers branch on the
// code and log the text. Its own module because tensor.ts and wire.ts throw
// it while result.ts reads their types.
import { InferError, type Status, statusName } from '../protocol/status';

/** A failed call: the gRPC status and the server's (or the client's own) message. */
export class InferenceError extends InferError {
  /** The status name, e.g. 'UNAVAILABLE'. */
  readonly codeName: string;
  /** The message exactly as the server sent it. */
  readonly details: string;

  /** code: the gRPC status; details: the message as received. */
  constructor(code: Status, details: string) {
    super(code, `${statusName(code)}: ${details}`);
    this.name = 'InferenceError';
    this.codeName = statusName(code);
    this.details = details;
  }
}
