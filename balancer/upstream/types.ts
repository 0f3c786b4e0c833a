// What the upstream modules (pool.ts, call.ts, stream.ts) and their callers
// share: the method paths forwarded, how an attempt ends, how it is
// cancelled. Here, not in pool.ts, so that the modules pool.ts builds on
// need not import it back.
import { METHOD } from '../../protocol/paths';
import type { Status } from '../../protocol/status';

/** Method paths of the inference service the balancer forwards. */
export const INFER_METHODS = { infer: METHOD.ModelInfer, ready: METHOD.ModelReady, metadata: METHOD.ModelMetadata } as const;

/** One upstream method path. */
export type UpstreamMethod = (typeof INFER_METHODS)[keyof typeof INFER_METHODS];

/** ModelStreamInfer: shared upstream streams (stream.ts) and per_stream pass-through (front/stream-pinned.ts). */
export const STREAM_METHOD = METHOD.ModelStreamInfer;

/** How one upstream attempt ended. */
export interface UpstreamResult {
  /** Final status. */
  readonly code: Status;
  /** Status message as received. */
  readonly details: string;
  /** Response bytes when code is OK. */
  readonly response: Buffer | undefined;
  /** The sidecar's ORCA load report trailer, when it sent one. */
  readonly orca: Buffer | undefined;
  /**
   * True when the status did not come from the sidecar's handler (no load
   * trailer: the sidecar attaches one to every answer, errors included), i.e.
   * the connection failed or dropped: always retryable on another endpoint.
   */
  readonly connectionFailure: boolean;
  /**
   * True when the sidecar certainly never processed the request (a connection failure of the
   * strictest kind): its stream was refused (RST_STREAM REFUSED_STREAM before any answer, or
   * beyond a GOAWAY's last-stream-id, which node reports the same way), or it never left this
   * process (the connection never came up, or the session took no new stream). RFC 9113 §8.7:
   * such a request is always safe to retry, so the router sends it elsewhere outside the retry
   * budget (router.ts).
   */
  readonly refused?: boolean;
}

/** Cancels an attempt in flight. */
export type CancelFn = () => void;
