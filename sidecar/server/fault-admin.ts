// GET and PUT /fault on the metrics port: read and change the sidecar's fault
// settings while it serves, so a benchmark can turn one sidecar slow mid-run
// and let it recover without restarting it (a restart would also reset its
// connections and the balancers' view of it). Off unless the sidecar was
// started with --fault-admin: anyone who reaches a production sidecar's
// metrics port must not be able to slow it down or fail its calls.
import type * as http from 'node:http';
import type { Logger } from '../../common/log';
import { sendError, sendJson } from '../../protocol/rest';
import { invalidArgument, notFound } from '../../protocol/status';
import type { FaultConfig, FaultInjector } from './fault';

/** The path the admin answers on. */
export const FAULT_PATH = '/fault';

/** Node fires a timer longer than this after 1 ms, so a longer delay would silently be no delay. */
export const MAX_DELAY_MS = 2 ** 31 - 1;

/** A PUT body is two numbers; anything bigger is not a fault setting. */
const MAX_BODY_BYTES = 4096;

/** The settings as JSON: the same field names GET answers and PUT takes. */
export interface FaultJson {
  readonly delay_ms: number;
  readonly abort_percent: number;
}

export const toJson = (c: FaultConfig): FaultJson => ({ delay_ms: c.delayMs, abort_percent: c.abortPercent });

const FIELDS = ['delay_ms', 'abort_percent'] as const;

/**
 * The settings a PUT body asks for: its fields over the current ones (a field left out keeps its
 * value). Throws INVALID_ARGUMENT naming the field and what was expected.
 */
export function parseFaultUpdate(text: string, current: FaultConfig): FaultConfig {
  let body: unknown;
  try {
    body = JSON.parse(text);
  } catch (e) {
    throw invalidArgument(`body is not JSON (${(e as Error).message}); expected {"delay_ms": N, "abort_percent": P}`);
  }
  if (typeof body !== 'object' || body === null || Array.isArray(body)) {
    throw invalidArgument(
      `body is ${Array.isArray(body) ? 'an array' : JSON.stringify(body)}; expected a JSON object with delay_ms and/or abort_percent`,
    );
  }
  const obj = body as Record<string, unknown>;
  const unknown = Object.keys(obj).filter((k) => !(FIELDS as readonly string[]).includes(k));
  if (unknown.length > 0)
    throw invalidArgument(`unknown field ${unknown.map((k) => `'${k}'`).join(', ')}; expected only delay_ms and abort_percent`);
  if (Object.keys(obj).length === 0) throw invalidArgument('body sets nothing; expected delay_ms and/or abort_percent');
  const num = (field: string, v: unknown, max: number, unit: string): number => {
    if (typeof v !== 'number' || !Number.isFinite(v))
      throw invalidArgument(`${field}: found ${JSON.stringify(v)}; expected a number ${unit}`);
    if (v < 0 || v > max) throw invalidArgument(`${field}: found ${v}; expected ${unit}`);
    return v;
  };
  return {
    delayMs: 'delay_ms' in obj ? num('delay_ms', obj.delay_ms, MAX_DELAY_MS, `of milliseconds, 0 to ${MAX_DELAY_MS}`) : current.delayMs,
    abortPercent: 'abort_percent' in obj ? num('abort_percent', obj.abort_percent, 100, 'of percent, 0 to 100') : current.abortPercent,
  };
}

/** The /fault handler: enabled answers GET and PUT; disabled answers 404 saying how to turn it on. */
export function faultAdminHandler(fault: FaultInjector, enabled: boolean, log: Logger): http.RequestListener {
  return (req, res) => {
    if (!enabled) {
      return sendError(
        res,
        notFound(`fault admin is off; start the sidecar with --fault-admin to read and change faults at ${FAULT_PATH}`),
      );
    }
    if (req.method === 'GET') return sendJson(res, 200, toJson(fault.config));
    if (req.method !== 'PUT') {
      res.setHeader('allow', 'GET, PUT');
      return sendJson(res, 405, { error: `${req.method} is not supported on ${FAULT_PATH}; expected GET or PUT` });
    }
    const chunks: Buffer[] = [];
    let size = 0;
    req.on('data', (c: Buffer) => {
      size += c.byteLength;
      if (size <= MAX_BODY_BYTES) chunks.push(c);
    });
    req.on('error', () => undefined);
    req.on('end', () => {
      if (size > MAX_BODY_BYTES)
        return sendJson(res, 413, { error: `body exceeds ${MAX_BODY_BYTES} bytes; expected {"delay_ms": N, "abort_percent": P}` });
      try {
        const next = parseFaultUpdate(Buffer.concat(chunks).toString('utf8'), fault.config);
        const old = fault.set(next);
        log.warn('fault settings changed', { old: toJson(old), new: toJson(fault.config) });
        sendJson(res, 200, toJson(fault.config));
      } catch (e) {
        sendError(res, e);
      }
    });
  };
}
