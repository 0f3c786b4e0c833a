// Structured JSON logs (pino) behind a three-method interface, so modules
// and tests depend on the interface, not on pino. Fields must never hold
// secrets: log names, addresses and figures, not payloads or credentials.
import pino from 'pino';

/** Fields attached to a log line. */
export type LogFields = Record<string, unknown>;

/** The logging interface every module takes. */
export interface Logger {
  info(msg: string, fields?: LogFields): void;
  warn(msg: string, fields?: LogFields): void;
  error(msg: string, fields?: LogFields): void;
}

/** A JSON logger to stdout, tagged with the component name. */
export function createLogger(component: string, level = process.env.INFERGATE_LOG_LEVEL ?? 'info'): Logger {
  const p = pino({ level, base: { component, pid: process.pid } });
  return {
    info: (msg, fields) => p.info(fields ?? {}, msg),
    warn: (msg, fields) => p.warn(fields ?? {}, msg),
    error: (msg, fields) => p.error(fields ?? {}, msg),
  };
}

/** A logger that drops everything (tests that do not inspect logs). */
export const silentLogger: Logger = { info: () => undefined, warn: () => undefined, error: () => undefined };
