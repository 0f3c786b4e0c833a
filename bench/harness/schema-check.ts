// A validator for the subset of JSON Schema (2020-12) that report.schema.json
// uses: type, const, enum, properties, required, additionalProperties,
// items, prefixItems, minItems, maxItems, minimum, maximum, pattern, and
// local $ref (#/$defs/...). Small enough to read; anything else in a schema
// is refused rather than silently ignored, so the subset cannot drift.

/** A schema node (the subset above). */
export type Schema = { readonly [k: string]: unknown } | boolean;

const KNOWN = new Set([
  '$schema',
  '$id',
  '$defs',
  'title',
  'description',
  'type',
  'const',
  'enum',
  'properties',
  'required',
  'additionalProperties',
  'items',
  'prefixItems',
  'minItems',
  'maxItems',
  'minimum',
  'maximum',
  'pattern',
  '$ref',
]);

function typeOf(v: unknown): string {
  if (v === null) return 'null';
  if (Array.isArray(v)) return 'array';
  return typeof v;
}

function hasType(v: unknown, t: string): boolean {
  if (t === 'integer') return Number.isInteger(v);
  if (t === 'number') return typeof v === 'number' && Number.isFinite(v);
  return typeOf(v) === t;
}

/** Problems with `value` against `schema` ("$.results[0].sent: expected integer"); empty when it validates. */
export function validate(schema: Schema, value: unknown): string[] {
  const root = schema;
  const errors: string[] = [];
  const resolve = (ref: string): Schema => {
    const m = /^#\/\$defs\/([^/]+)$/.exec(ref);
    const defs = typeof root === 'object' ? (root.$defs as Record<string, Schema> | undefined) : undefined;
    if (!m || !defs || !(m[1] in defs)) throw new Error(`unsupported or unknown $ref '${ref}'`);
    return defs[m[1]];
  };
  const walk = (s: Schema, v: unknown, at: string): void => {
    if (s === true) return;
    if (s === false) return void errors.push(`${at}: not allowed`);
    for (const k of Object.keys(s)) if (!KNOWN.has(k)) throw new Error(`schema keyword '${k}' at ${at} is outside the supported subset`);
    if (typeof s.$ref === 'string') walk(resolve(s.$ref), v, at);
    if (s.type !== undefined) {
      const types = Array.isArray(s.type) ? (s.type as string[]) : [s.type as string];
      if (!types.some((t) => hasType(v, t))) return void errors.push(`${at}: expected ${types.join(' or ')}, got ${typeOf(v)}`);
    }
    if ('const' in s && JSON.stringify(v) !== JSON.stringify(s.const)) errors.push(`${at}: expected ${JSON.stringify(s.const)}`);
    if (Array.isArray(s.enum) && !s.enum.some((e) => JSON.stringify(e) === JSON.stringify(v)))
      errors.push(`${at}: expected one of ${JSON.stringify(s.enum)}`);
    if (typeof v === 'number') {
      if (typeof s.minimum === 'number' && v < s.minimum) errors.push(`${at}: ${v} is below ${s.minimum}`);
      if (typeof s.maximum === 'number' && v > s.maximum) errors.push(`${at}: ${v} is above ${s.maximum}`);
    }
    if (typeof v === 'string' && typeof s.pattern === 'string' && !new RegExp(s.pattern, 'u').test(v))
      errors.push(`${at}: does not match ${s.pattern}`);
    if (Array.isArray(v)) {
      if (typeof s.minItems === 'number' && v.length < s.minItems) errors.push(`${at}: fewer than ${s.minItems} items`);
      if (typeof s.maxItems === 'number' && v.length > s.maxItems) errors.push(`${at}: more than ${s.maxItems} items`);
      const prefix = (s.prefixItems as Schema[] | undefined) ?? [];
      v.forEach((item, i) => {
        const sub = i < prefix.length ? prefix[i] : (s.items as Schema | undefined);
        if (sub !== undefined) walk(sub, item, `${at}[${i}]`);
      });
    }
    if (typeOf(v) === 'object') {
      const obj = v as Record<string, unknown>;
      const props = (s.properties as Record<string, Schema> | undefined) ?? {};
      for (const r of (s.required as string[] | undefined) ?? []) if (!(r in obj)) errors.push(`${at}: missing '${r}'`);
      for (const [k, x] of Object.entries(obj)) {
        if (k in props) walk(props[k], x, `${at}.${k}`);
        else if (s.additionalProperties !== undefined) walk(s.additionalProperties as Schema, x, `${at}.${k}`);
      }
    }
  };
  walk(schema, value, '$');
  return errors;
}

/** Paths in `value` (objects' keys, arrays' items) that `schema` does not describe: how tests catch a schema lagging the type. */
export function undescribed(schema: Schema, value: unknown, at = '$', root: Schema = schema): string[] {
  if (typeof schema !== 'object') return [];
  if (typeof schema.$ref === 'string') {
    const name = schema.$ref.replace('#/$defs/', '');
    return undescribed((root as Record<string, Record<string, Schema>>).$defs[name], value, at, root);
  }
  const out: string[] = [];
  if (Array.isArray(value)) {
    const prefix = (schema.prefixItems as Schema[] | undefined) ?? [];
    value.forEach((x, i) => {
      const sub = i < prefix.length ? prefix[i] : (schema.items as Schema | undefined);
      if (sub === undefined) out.push(`${at}[${i}]`);
      else out.push(...undescribed(sub, x, `${at}[${i}]`, root));
    });
  } else if (typeOf(value) === 'object') {
    const props = (schema.properties as Record<string, Schema> | undefined) ?? {};
    for (const [k, x] of Object.entries(value as Record<string, unknown>)) {
      const sub = k in props ? props[k] : (schema.additionalProperties as Schema | undefined);
      if (sub === undefined) out.push(`${at}.${k}`);
      else out.push(...undescribed(sub, x, `${at}.${k}`, root));
    }
  }
  return out;
}
