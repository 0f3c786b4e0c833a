// The do-nothing function, as one module-level object: passed as a listener
// ('error' on streams whose 'close' reports the failure, 'data' read only to
// keep flow control moving) or returned as a cancel that has nothing to do,
// it allocates nothing per call. http2/ has its own (it imports nothing of
// the project).

/** Does nothing. */
export function noop(): void {}
