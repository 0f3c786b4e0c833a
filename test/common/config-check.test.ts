import { test } from 'node:test';
import assert from 'node:assert/strict';
import { ConfigDocument, ConfigError, didYouMean, formatIssue, type Mapping, type Value } from '../../common/config-check';

/** Parses text, runs read on the root, and returns the value or the ConfigError's issues as formatted lines. */
function run<T>(text: string, read: (root: Value) => T): { value: T } | { errors: string[] } {
  try {
    const doc = ConfigDocument.parse(text, 'f.yaml');
    return { value: doc.finish(read(doc.root)) };
  } catch (err) {
    if (!(err instanceof ConfigError)) throw err;
    return { errors: err.issues.map(formatIssue) };
  }
}

const KEYS = ['port', 'ratio', 'name', 'on', 'mode', 'sizes', 'sub'];
const field =
  <T>(key: string, read: (v: Value) => T) =>
  (root: Value) =>
    read(root.map(KEYS).field(key));

test('scalar readers accept good values and name line, column, found and expected for bad ones', () => {
  const cases: { name: string; text: string; read: (root: Value) => unknown; want: unknown }[] = [
    { name: 'int', text: 'port: 8080', read: field('port', (v) => v.int({ min: 1, max: 65535 })), want: 8080 },
    {
      name: 'int as float',
      text: 'port: 80.5',
      read: field('port', (v) => v.int()),
      want: /f\.yaml:1:7: port: found 80\.5; expected an integer$/,
    },
    { name: 'int quoted', text: 'port: "80"', read: field('port', (v) => v.int()), want: /found "80"; expected an integer/ },
    {
      name: 'int range',
      text: 'port: 0',
      read: field('port', (v) => v.int({ min: 1, max: 65535 })),
      want: /found 0; expected an integer from 1 to 65535/,
    },
    { name: 'int min only', text: 'port: -1', read: field('port', (v) => v.int({ min: 0 })), want: /expected an integer >= 0/ },
    { name: 'number', text: 'ratio: 0.25', read: field('ratio', (v) => v.number({ max: 1 })), want: 0.25 },
    { name: 'number inf', text: 'ratio: .inf', read: field('ratio', (v) => v.number()), want: /found Infinity; expected a number/ },
    { name: 'number max', text: 'ratio: 2', read: field('ratio', (v) => v.number({ max: 1 })), want: /expected a number <= 1/ },
    { name: 'string', text: 'name: a', read: field('name', (v) => v.string()), want: 'a' },
    { name: 'string empty', text: 'name: ""', read: field('name', (v) => v.string()), want: /found ""; expected a non-empty string/ },
    { name: 'string allowEmpty', text: 'name: ""', read: field('name', (v) => v.string({ allowEmpty: true })), want: '' },
    { name: 'string from number', text: 'name: 12', read: field('name', (v) => v.string()), want: /found 12; expected a non-empty string/ },
    { name: 'bool', text: 'on: false', read: field('on', (v) => v.bool()), want: false },
    {
      name: 'bool yes is a string in YAML 1.2',
      text: 'on: yes',
      read: field('on', (v) => v.bool()),
      want: /found "yes"; expected true or false/,
    },
    { name: 'enum', text: 'mode: fast', read: field('mode', (v) => v.oneOf(['fast', 'slow'])), want: 'fast' },
    {
      name: 'enum typo',
      text: 'mode: fsat',
      read: field('mode', (v) => v.oneOf(['fast', 'slow'])),
      want: /expected one of fast, slow \(did you mean fast\?\)/,
    },
    {
      name: 'empty value',
      text: 'port:',
      read: field('port', (v) => v.int()),
      want: /f\.yaml:1:6: port: found an empty value; expected an integer/,
    },
    {
      name: 'missing field',
      text: 'name: a',
      read: field('port', (v) => v.int()),
      want: /f\.yaml:1:1: port: found no value \(field missing\); expected an integer/,
    },
    { name: 'list of ints', text: 'sizes: [1, 2]', read: field('sizes', (v) => v.list((i) => i.int())), want: [1, 2] },
    {
      name: 'list item path',
      text: 'sizes:\n  - 1\n  - x',
      read: field('sizes', (v) => v.list((i) => i.int())),
      want: /f\.yaml:3:5: sizes\[1\]: found "x"; expected an integer/,
    },
    {
      name: 'list not a list',
      text: 'sizes: 3',
      read: field('sizes', (v) => v.list((i) => i.int(), { what: 'a list of sizes' })),
      want: /found 3; expected a list of sizes/,
    },
    {
      name: 'list nonEmpty',
      text: 'sizes: []',
      read: field('sizes', (v) => v.list((i) => i.int(), { nonEmpty: true })),
      want: /found an empty list; expected at least one item/,
    },
    {
      name: 'alias followed',
      text: 'port: &p 7\nsub: { a: *p }',
      read: (r) => r.map(KEYS).field('sub').map(['a']).field('a').int(),
      want: 7,
    },
    {
      name: 'nested path',
      text: 'sub:\n  a: [{b: 1}, {b: x}]',
      read: (r) =>
        r
          .map(KEYS)
          .field('sub')
          .map(['a'])
          .field('a')
          .list((i) => i.map(['b']).field('b').int()),
      want: /f\.yaml:2:19: sub\.a\[1\]\.b: found "x"/,
    },
    { name: 'root not a mapping', text: '- 1', read: (r) => r.map(KEYS), want: /f\.yaml:1:1: found a list; expected a mapping/ },
    {
      name: 'empty document',
      text: '# nothing\n',
      read: (r) => r.map(KEYS),
      want: /^f\.yaml: found an empty document; expected a mapping$/,
    },
  ];
  for (const c of cases) {
    const r = run(c.text, c.read);
    if (c.want instanceof RegExp) {
      assert.ok('errors' in r, `${c.name}: expected an error, got ${JSON.stringify(r)}`);
      assert.equal(r.errors.length, 1, `${c.name}: ${r.errors.join(' | ')}`);
      assert.match(r.errors[0], c.want, c.name);
    } else {
      assert.deepEqual(r, { value: c.want }, c.name);
    }
  }
});

test('unknown keys are reported at the key, with a suggestion when one is close', () => {
  const r = run('port: 1\nprot: 2\nwhatever: 3\n', (root) => root.map(KEYS));
  assert.ok('errors' in r);
  assert.deepEqual(r.errors, [
    'f.yaml:2:1: prot: found an unknown field; expected a known field (did you mean port?)',
    `f.yaml:3:1: whatever: found an unknown field; expected one of the fields ${KEYS.join(', ')}`,
  ]);
});

test('every problem is collected, sorted by line, in one ConfigError', () => {
  const text = 'sizes: [1, x, 3, y]\nport: -5\nmode: nope\n';
  try {
    const doc = ConfigDocument.parse(text, 'f.yaml');
    const m = doc.root.map(KEYS);
    m.field('mode').oneOf(['a', 'b']);
    m.field('port').int({ min: 0 });
    m.field('sizes').list((v) => v.int());
    doc.finish(null);
    assert.fail('expected a ConfigError');
  } catch (err) {
    assert.ok(err instanceof ConfigError);
    assert.deepEqual(
      err.issues.map((i) => [i.path, i.line, i.col]),
      [
        ['sizes[1]', 1, 12],
        ['sizes[3]', 1, 18],
        ['port', 2, 7],
        ['mode', 3, 7],
      ],
    );
    assert.match(err.message, /^invalid configuration \(4 problems\):\n {2}f\.yaml:1:12: sizes\[1\]: found "x"; expected an integer\n/);
  }
});

test('YAML syntax errors, duplicate keys included, are reported before any schema check', () => {
  const r = run('a: 1\na: 2\nb: [1\n', () => assert.fail('schema checks must not run'));
  assert.ok('errors' in r);
  assert.match(r.errors[0], /^f\.yaml:2:1: found invalid YAML \(Map keys must be unique\); expected well-formed YAML$/);
  assert.ok(r.errors.length >= 2, 'the unclosed list is reported too');
});

test('opt takes the default when absent or invalid; section gives defaults for an absent mapping', () => {
  const doc = ConfigDocument.parse('port: 9\nsub: {}\n', 'f.yaml');
  const m: Mapping = doc.root.map(KEYS);
  assert.equal(
    m.opt('port', 1, (v) => v.int()),
    9,
  );
  assert.equal(
    m.opt('ratio', 0.5, (v) => v.number()),
    0.5,
  );
  assert.equal(
    m.opt('on', true, (v) => v.bool()),
    true,
  );
  assert.equal(
    m.section('sub', ['x']).opt('x', 3, (v) => v.int()),
    3,
  );
  assert.equal(
    m.section('mode', ['x']).opt('x', 4, (v) => v.int()),
    4,
    'absent section',
  );
  assert.equal(doc.issues.length, 0);
  assert.throws(() => m.get('nope'), /'nope' is not an allowed key/, 'reading an undeclared key is a programming error');

  const bad = ConfigDocument.parse('port: x\n', 'f.yaml');
  assert.equal(
    bad.root.map(KEYS).opt('port', 1, (v) => v.int()),
    1,
  );
  assert.equal(bad.issues.length, 1, 'the invalid value is still reported');
});

test('a value that is not a mapping is reported once, not once per missing field', () => {
  const r = run('sub: 3\n', (root) => {
    const sub = root.map(KEYS).field('sub').map(['a', 'b']);
    assert.equal(sub.broken, true);
    return [sub.field('a').int(), sub.field('b').string()];
  });
  assert.deepEqual(r, { errors: ['f.yaml:1:6: sub: found 3; expected a mapping'] });
  const empty = run('sub:\n', (root) => root.map(KEYS).field('sub').map(['a']));
  assert.ok('errors' in empty);
  assert.match(empty.errors[0], /found an empty value; expected a mapping \(write \{\} for all defaults\)/);
});

test('didYouMean suggests only close candidates', () => {
  const table: [string, string[], string | undefined][] = [
    ['FP23', ['FP16', 'FP32'], 'FP32'],
    ['fp32', ['FP16', 'FP32'], 'FP32'],
    ['preferred_batch_sizes', ['preferred_batch_size', 'max_batch_size'], 'preferred_batch_size'],
    ['timeout', ['timeout_ms'], undefined],
    ['xyz', ['port', 'mode'], undefined],
  ];
  for (const [word, cands, want] of table) assert.equal(didYouMean(word, cands), want, word);
});

test('formatIssue without a position names the file only', () => {
  assert.equal(formatIssue({ file: 'repo/m', path: '', found: 'no models', expected: 'some' }), 'repo/m: found no models; expected some');
});
