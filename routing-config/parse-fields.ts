// Field readers the routing config's sections share (parse.ts and
// parse-endpoints.ts): mappings keyed by names the operator chooses,
// versions and host:port addresses. Each records its problem at the value
// (file, field path, line) and returns undefined, so a reader can go on and
// report every problem in one pass.
import { isMap, isScalar } from 'yaml';
import { Value } from '../common/config-check';

/** host:port with a DNS name, an IPv4 address or a bracketed IPv6 address. */
const ADDRESS = /^(?:\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9](?:[A-Za-z0-9.-]*[A-Za-z0-9])?):([0-9]{1,5})$/;

/** The entries of a mapping keyed by names the operator chooses, as [name, value, key]; none when absent. */
export function named(v: Value | undefined, what: string): [string, Value, Value][] {
  if (!v) return [];
  const n = v.node;
  if (!isMap(n)) return v.fail(what) ?? [];
  const out: [string, Value, Value][] = [];
  for (const pair of n.items) {
    const raw = isScalar(pair.key) ? pair.key.value : undefined;
    const at = (isScalar(pair.key) ? pair.key.range?.[0] : undefined) ?? v.offset;
    const name = typeof raw === 'string' || typeof raw === 'number' ? String(raw) : '';
    const path = v.path ? `${v.path}.${name}` : name;
    const keyV = new Value(v.doc, pair.key, path, at);
    if (name === '') keyV.fail('a non-empty name');
    else out.push([name, new Value(v.doc, pair.value, path, at), keyV]);
  }
  return out;
}

/** Drops (and reports) a name seen before: YAML rejects repeated keys, but 1 and "1" are two keys with one name. */
export function unique(entries: [string, Value, Value][]): [string, Value, Value][] {
  const seen = new Set<string>();
  return entries.filter(([name, , keyV]) => {
    if (seen.has(name)) return keyV.fail('each name once', `${name} again`) ?? false;
    seen.add(name);
    return true;
  });
}

/** A version: a positive integer, written as a number or a string. */
export function readVersion(v: Value): string | undefined {
  const raw = v.raw();
  const s = typeof raw === 'number' || typeof raw === 'string' ? String(raw) : '';
  return /^[1-9][0-9]*$/.test(s) ? s : v.fail('a positive integer version, e.g. 1');
}

/** Checks host:port (port 1-65535); returns the address when valid. */
export function readAddress(v: Value, address: string | undefined = v.string()): string | undefined {
  if (address === undefined) return undefined;
  const m = ADDRESS.exec(address);
  const port = m ? Number(m[1]) : 0;
  return port >= 1 && port <= 65535 ? address : v.fail('host:port, e.g. 10.0.0.7:8001 or [::1]:8001 (port 1-65535)');
}
