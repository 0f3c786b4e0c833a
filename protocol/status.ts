// One error type for every failure a caller can see. It carries the gRPC
// status so every surface (gRPC, REST, the stream's error_message) reports the
// same precise code and message.
import { status as Status } from '@grpc/grpc-js';

export { Status };

/** A failure with the gRPC status a caller should see and a message naming what was wrong. */
export class InferError extends Error {
  constructor(
    /** The gRPC status code. */
    readonly code: Status,
    message: string,
  ) {
    super(message);
    this.name = 'InferError';
  }
}

/** Shorthands; the message should name what was wrong and what was expected. */
export const invalidArgument = (msg: string) => new InferError(Status.INVALID_ARGUMENT, msg);
export const notFound = (msg: string) => new InferError(Status.NOT_FOUND, msg);
export const resourceExhausted = (msg: string) => new InferError(Status.RESOURCE_EXHAUSTED, msg);
export const unavailable = (msg: string) => new InferError(Status.UNAVAILABLE, msg);
export const deadlineExceeded = (msg: string) => new InferError(Status.DEADLINE_EXCEEDED, msg);
export const internal = (msg: string) => new InferError(Status.INTERNAL, msg);

/** Wraps anything thrown into an InferError (unknown errors become INTERNAL). */
export function toInferError(err: unknown): InferError {
  if (err instanceof InferError) return err;
  const msg = err instanceof Error ? err.message : String(err);
  return new InferError(Status.INTERNAL, msg);
}

/** The HTTP status KServe's REST surface uses for a gRPC status. */
export function httpStatusOf(code: Status): number {
  switch (code) {
    case Status.INVALID_ARGUMENT:
    case Status.FAILED_PRECONDITION:
    case Status.OUT_OF_RANGE:
      return 400;
    case Status.UNAUTHENTICATED:
      return 401;
    case Status.PERMISSION_DENIED:
      return 403;
    case Status.NOT_FOUND:
      return 404;
    case Status.RESOURCE_EXHAUSTED:
      return 429;
    case Status.UNAVAILABLE:
      return 503;
    case Status.DEADLINE_EXCEEDED:
      return 504;
    case Status.UNIMPLEMENTED:
      return 501;
    default:
      return 500;
  }
}

/** The upper-case name of a status code, for metrics labels and logs. */
export function statusName(code: Status): string {
  return Status[code] ?? String(code);
}
