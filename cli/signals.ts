// Graceful stop for every long-running command: the first SIGTERM/SIGINT
// drains (stop accepting, finish in-flight work) and exits 0; a second one
// exits at once. requestStop() starts the same drain from code (a --workers
// primary's IPC message); unlike a second signal it never cuts a drain short.
import type { Logger } from '../common/log';

let startStop: ((why: string) => void) | undefined;

/** Starts the drain of the running command, if it has not started; a no-op outside runUntilSignal. */
export function requestStop(why: string): void {
  startStop?.(why);
}

/** Resolves after stop() finished following the first SIGINT or SIGTERM (or requestStop). */
export function runUntilSignal(log: Logger, stop: () => Promise<void>): Promise<void> {
  return new Promise((resolve) => {
    let stopping = false;
    const begin = (why: string): void => {
      if (stopping) return;
      stopping = true;
      log.info('draining', { reason: why });
      stop().then(
        () => {
          log.info('stopped');
          resolve();
        },
        (e: unknown) => {
          log.error('error while draining', { err: String(e) });
          process.exitCode = 1;
          resolve();
        },
      );
    };
    const onSignal = (sig: NodeJS.Signals) => {
      if (stopping) {
        log.warn('second signal: exiting without waiting', { signal: sig });
        process.exit(1);
      }
      begin(sig);
    };
    startStop = begin;
    process.on('SIGTERM', onSignal);
    process.on('SIGINT', onSignal);
  });
}
