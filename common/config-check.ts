// A small schema checker for YAML configuration read through the `yaml`
// Document API, so every problem carries its line and column. Readers collect
// problems instead of throwing at the first one: an operator fixing a broken
// file wants the whole list in one run. Used by the model repository
// (sidecar/repository/config.ts) and meant for the routing config too.
import { isAlias, isMap, isScalar, isSeq, LineCounter, parseDocument, type Document, type Node } from 'yaml';

/** One problem found in a configuration file. */
export interface ConfigIssue {
  /** File the problem is in. */
  readonly file: string;
  /** Dotted field path, e.g. `dynamic_batching.preferred_batch_size[1]`; '' for the whole file. */
  readonly path: string;
  /** 1-based line, when the problem has a place in the YAML. */
  readonly line?: number;
  /** 1-based column, with line. */
  readonly col?: number;
  /** What was there. */
  readonly found: string;
  /** What was expected instead. */
  readonly expected: string;
}

/** Formats one issue as `file:line:col: path: found X; expected Y`. */
export function formatIssue(i: ConfigIssue): string {
  const where = i.line === undefined ? i.file : `${i.file}:${i.line}:${i.col ?? 1}`;
  return `${where}: ${i.path ? `${i.path}: ` : ''}found ${i.found}; expected ${i.expected}`;
}

/** Every problem found in one or more configuration files, listed together. */
export class ConfigError extends Error {
  /** The problems, sorted by file and line. */
  readonly issues: readonly ConfigIssue[];

  constructor(issues: readonly ConfigIssue[]) {
    // Sorted so cross-field problems found late still read in file order.
    const sorted = [...issues].sort((a, b) => a.file.localeCompare(b.file) || (a.line ?? 0) - (b.line ?? 0) || (a.col ?? 0) - (b.col ?? 0));
    super(
      `invalid configuration (${sorted.length} problem${sorted.length === 1 ? '' : 's'}):\n` +
        sorted.map((i) => `  ${formatIssue(i)}`).join('\n'),
    );
    this.name = 'ConfigError';
    this.issues = sorted;
  }
}

/** Bounds for numbers; both inclusive. */
export interface Range {
  readonly min?: number;
  readonly max?: number;
}

/** The closest candidate to a misspelt word, if close enough to be a likely typo. */
export function didYouMean(word: string, candidates: readonly string[]): string | undefined {
  let best: string | undefined;
  let bestD = Math.max(2, Math.floor(word.length / 3)) + 1;
  for (const c of candidates) {
    const d = editDistance(word.toLowerCase(), c.toLowerCase());
    if (d < bestD) [best, bestD] = [c, d];
  }
  return best;
}

/** Edit distance counting a swap of neighbours as one edit (FP23 → FP32), the commonest typo. */
function editDistance(a: string, b: string): number {
  const d = Array.from({ length: a.length + 1 }, (_, i) => Array.from({ length: b.length + 1 }, (_, j) => (i === 0 ? j : j === 0 ? i : 0)));
  for (let i = 1; i <= a.length; i++) {
    for (let j = 1; j <= b.length; j++) {
      d[i][j] = Math.min(d[i - 1][j] + 1, d[i][j - 1] + 1, d[i - 1][j - 1] + (a[i - 1] === b[j - 1] ? 0 : 1));
      if (i > 1 && j > 1 && a[i - 1] === b[j - 2] && a[i - 2] === b[j - 1]) d[i][j] = Math.min(d[i][j], d[i - 2][j - 2] + 1);
    }
  }
  return d[a.length][b.length];
}

/** One parsed YAML file and the issues found in it so far. */
export class ConfigDocument {
  /** Issues recorded by every reader of this document. */
  readonly issues: ConfigIssue[] = [];
  /** The top-level value (node null for an empty file). */
  readonly root: Value;

  private constructor(
    /** File name used in every issue. */
    readonly file: string,
    private readonly doc: Document,
    private readonly lines: LineCounter,
  ) {
    this.root = new Value(this, doc.contents, '', undefined);
  }

  /** Parses YAML text; throws a ConfigError listing every syntax error (duplicate keys included). */
  static parse(text: string, file: string): ConfigDocument {
    const lines = new LineCounter();
    const doc = parseDocument(text, { lineCounter: lines, prettyErrors: false });
    const d = new ConfigDocument(file, doc, lines);
    for (const e of doc.errors) d.issue(e.pos[0], '', `invalid YAML (${e.message})`, 'well-formed YAML');
    return d.finish(d);
  }

  /** Records an issue at a source offset (undefined: no position). */
  issue(offset: number | undefined, path: string, found: string, expected: string): void {
    const pos = offset === undefined ? undefined : this.lines.linePos(offset);
    this.issues.push({ file: this.file, path, ...(pos && { line: pos.line, col: pos.col }), found, expected });
  }

  /** Follows an alias to the node it names. */
  resolve(node: unknown): Node | null {
    if (isAlias(node)) return (node.resolve(this.doc) as Node | undefined) ?? null;
    return isMap(node) || isSeq(node) || isScalar(node) ? node : null;
  }

  /** Returns value when no issue was recorded, else throws a ConfigError listing them all. */
  finish<T>(value: T): T {
    if (this.issues.length > 0) throw new ConfigError(this.issues);
    return value;
  }
}

/** A value somewhere in the document, with its path; the readers check its type and record issues. */
export class Value {
  /** The node, aliases followed; null when the YAML value is empty or the field is absent. */
  readonly node: Node | null;

  constructor(
    /** The document this value belongs to. */
    readonly doc: ConfigDocument,
    node: unknown,
    /** Dotted path of this value. */
    readonly path: string,
    /** Where to point when the node has no position (an empty value points at its key). */
    private readonly fallback: number | undefined,
    /** Stand-in for an absent field: 'missing' reports as such; 'silent' (inside a broken mapping) reports nothing. */
    private readonly absent?: 'missing' | 'silent',
  ) {
    this.node = doc.resolve(node);
  }

  /** Source offset of this value, if known. */
  get offset(): number | undefined {
    return this.node?.range?.[0] ?? this.fallback;
  }

  /** Records an issue at this value; returns undefined so readers can `return v.fail(...)`. */
  fail(expected: string, found: string = this.describe()): undefined {
    if (this.absent !== 'silent') this.doc.issue(this.offset, this.path, found, expected);
    return undefined;
  }

  /** How the value reads in an issue: a quoted string, a number, 'a mapping'... */
  describe(): string {
    const n = this.node;
    if (this.absent) return 'no value (field missing)';
    if (isMap(n)) return 'a mapping';
    if (isSeq(n)) return 'a list';
    if (!isScalar(n) || n.value === null || n.value === undefined) return this.path ? 'an empty value' : 'an empty document';
    return typeof n.value === 'string' ? JSON.stringify(n.value.length > 40 ? `${n.value.slice(0, 40)}…` : n.value) : String(n.value);
  }

  /** The scalar's JS value (string, number, boolean, null); undefined for a mapping, a list or nothing. */
  raw(): unknown {
    return isScalar(this.node) ? this.node.value : undefined;
  }

  /** A non-empty string (or any string with allowEmpty). */
  string(opts: { allowEmpty?: boolean } = {}): string | undefined {
    const v = this.raw();
    return typeof v === 'string' && (v !== '' || opts.allowEmpty) ? v : this.fail(opts.allowEmpty ? 'a string' : 'a non-empty string');
  }

  /** A finite number within range. */
  number(r: Range = {}): number | undefined {
    const v = this.raw();
    return typeof v === 'number' && Number.isFinite(v) && inRange(v, r) ? v : this.fail(`a number${rangeText(r)}`);
  }

  /** A safe integer within range. */
  int(r: Range = {}): number | undefined {
    const v = this.raw();
    return typeof v === 'number' && Number.isSafeInteger(v) && inRange(v, r) ? v : this.fail(`an integer${rangeText(r)}`);
  }

  /** true or false. */
  bool(): boolean | undefined {
    const v = this.raw();
    return typeof v === 'boolean' ? v : this.fail('true or false');
  }

  /** One of the allowed strings, suggesting the closest on a typo. */
  oneOf<T extends string>(allowed: readonly T[]): T | undefined {
    const v = this.raw();
    if (typeof v === 'string' && (allowed as readonly string[]).includes(v)) return v as T;
    const hint = typeof v === 'string' ? didYouMean(v, allowed) : undefined;
    return this.fail(`one of ${allowed.join(', ')}${hint ? ` (did you mean ${hint}?)` : ''}`);
  }

  /** A list whose items are read by item; items it rejects are left out (their issues are recorded). */
  list<T>(item: (v: Value, index: number) => T | undefined, opts: ListOpts = {}): T[] | undefined {
    const n = this.node;
    if (!isSeq(n)) return this.fail(opts.what ?? 'a list');
    if (opts.nonEmpty && n.items.length === 0) return this.fail(`at least one item in ${opts.what ?? 'the list'}`, 'an empty list');
    const out: T[] = [];
    n.items.forEach((child, i) => {
      const r = item(new Value(this.doc, child, `${this.path}[${i}]`, this.offset), i);
      if (r !== undefined) out.push(r);
    });
    return out;
  }

  /** A mapping with only the given keys; anything else yields an empty, broken mapping (see Mapping.broken). */
  map(keys: readonly string[]): Mapping {
    if (isMap(this.node)) return new Mapping(this, keys, false);
    this.fail(`a mapping${isScalar(this.node) && this.node.value === null ? ' (write {} for all defaults)' : ''}`);
    return new Mapping(this, keys, true);
  }
}

/** Options of list readers. */
export interface ListOpts {
  /** Reject an empty list. */
  readonly nonEmpty?: boolean;
  /** What the list holds, for messages: e.g. 'a list of tensors'. */
  readonly what?: string;
}

function inRange(v: number, r: Range): boolean {
  return (r.min === undefined || v >= r.min) && (r.max === undefined || v <= r.max);
}

function rangeText(r: Range): string {
  if (r.min !== undefined && r.max !== undefined) return ` from ${r.min} to ${r.max}`;
  if (r.min !== undefined) return ` >= ${r.min}`;
  return r.max !== undefined ? ` <= ${r.max}` : '';
}

/**
 * A YAML mapping with a fixed set of allowed keys; unknown keys are reported on construction.
 * Required fields read through field(key), optional ones through opt(key, default, read).
 */
export class Mapping {
  private readonly fields = new Map<string, Value>();

  constructor(
    /** The mapping's own value. */
    readonly value: Value,
    private readonly keys: readonly string[],
    /** True for the stand-in of a value that was not a mapping: its missing fields are not reported again. */
    readonly broken: boolean,
  ) {
    if (!isMap(value.node)) return;
    for (const pair of value.node.items) {
      const key = isScalar(pair.key) ? String(pair.key.value) : undefined;
      const keyAt = isScalar(pair.key) ? (pair.key.range?.[0] ?? value.offset) : value.offset;
      if (key === undefined) {
        value.doc.issue(keyAt, value.path, 'a complex key', 'plain field names');
      } else if (!keys.includes(key)) {
        const hint = didYouMean(key, keys);
        value.doc.issue(
          keyAt,
          this.pathOf(key),
          'an unknown field',
          hint ? `a known field (did you mean ${hint}?)` : `one of the fields ${keys.join(', ')}`,
        );
      } else {
        this.fields.set(key, new Value(value.doc, pair.value, this.pathOf(key), keyAt));
      }
    }
  }

  private pathOf(key: string): string {
    return this.value.path ? `${this.value.path}.${key}` : key;
  }

  /** The field's value, or undefined when absent. Precondition: key is one of the allowed keys. */
  get(key: string): Value | undefined {
    if (!this.keys.includes(key)) throw new Error(`config-check: '${key}' is not an allowed key of '${this.value.path}'`);
    return this.fields.get(key);
  }

  /** A required field: its value, or a stand-in whose readers report the field missing. */
  field(key: string): Value {
    return this.get(key) ?? new Value(this.value.doc, null, this.pathOf(key), this.value.offset, this.broken ? 'silent' : 'missing');
  }

  /** An optional field read by read; def when absent (or invalid, after recording the issue). */
  opt<T>(key: string, def: T, read: (v: Value) => T | undefined): T {
    const v = this.get(key);
    return (v && read(v)) ?? def;
  }

  /** An optional nested mapping: when absent, an empty one, so its optional fields take their defaults. */
  section(key: string, keys: readonly string[]): Mapping {
    return this.get(key)?.map(keys) ?? new Mapping(this.field(key), keys, this.broken);
  }
}
