// Graceful stop for every long-running command: the first SIGTERM/SIGINT
// drains (stop accepting, finish in-flight work) and exits 0; a second one
// exits at once.
import type { Logger } from '../common/log';

/** Resolves after stop() finished following the first SIGINT or SIGTERM. */
export function runUntilSignal(log: Logger, stop: () => Promise<void>): Promise<void> {
  return new Promise((resolve) => {
    let stopping = false;
    const onSignal = (sig: NodeJS.Signals) => {
      if (stopping) {
        log.warn('second signal: exiting without waiting', { signal: sig });
        process.exit(1);
      }
      stopping = true;
      log.info('draining', { signal: sig });
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
    process.on('SIGTERM', onSignal);
    process.on('SIGINT', onSignal);
  });
}
