import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, mkdir, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { stringify } from 'yaml';
import { ConfigError } from '../../../common/config-check';
import { DEFAULT_BREAKER, loadModelConfig, parseModelConfig } from '../../../sidecar/repository/config';
import type { ModelConfig } from '../../../sidecar/repository/config-types';

const EXAMPLE = `platform: onnx
max_batch_size: 64
inputs:
  - { name: features, datatype: FP32, dims: [256] }
outputs:
  - { name: score, datatype: FP32, dims: [1] }
dynamic_batching:
  preferred_batch_size: [16, 32, 64]
  max_queue_delay_microseconds: 500
  max_queue_size: 8192
  priority_levels: 2
  default_priority_level: 2
  default_timeout_microseconds: 0
  allow_timeout_override: true
instances: 1
execution_providers: [tensorrt, cuda, cpu]
intra_op_threads: 1
breaker: { timeout_ms: 5000, error_threshold_percentage: 50, volume_threshold: 20, reset_timeout_ms: 2000, rolling_window_ms: 10000 }
`;

const MINIMAL = `inputs: [{ name: x, datatype: INT64, dims: [-1] }]
outputs: [{ name: y, datatype: FP32, dims: [2] }]
`;

const parse = (text: string, dir = 'ranker') => parseModelConfig(text, `models/${dir}/config.yaml`, dir);

test('the example config parses to exactly the ModelConfig it spells out', () => {
  const want: ModelConfig = {
    name: 'ranker',
    platform: 'onnx',
    max_batch_size: 64,
    inputs: [{ name: 'features', datatype: 'FP32', dims: [256] }],
    outputs: [{ name: 'score', datatype: 'FP32', dims: [1] }],
    dynamic_batching: {
      preferred_batch_size: [16, 32, 64],
      max_queue_delay_microseconds: 500,
      max_queue_size: 8192,
      priority_levels: 2,
      default_priority_level: 2,
      default_timeout_microseconds: 0,
      allow_timeout_override: true,
      preserve_ordering: false,
    },
    instances: 1,
    execution_providers: ['tensorrt', 'cuda', 'cpu'],
    intra_op_threads: 1,
    breaker: DEFAULT_BREAKER,
    versions: [],
  };
  assert.deepEqual(parse(EXAMPLE), want);
});

test('omitted fields take their defaults, and a parsed config round-trips through YAML', () => {
  const cfg = parse(MINIMAL);
  assert.deepEqual(cfg, {
    name: 'ranker',
    platform: 'onnx',
    max_batch_size: 0,
    inputs: [{ name: 'x', datatype: 'INT64', dims: [-1] }],
    outputs: [{ name: 'y', datatype: 'FP32', dims: [2] }],
    instances: 1,
    execution_providers: ['cpu'],
    intra_op_threads: 0,
    breaker: DEFAULT_BREAKER,
    versions: [],
  });
  assert.ok(!('dynamic_batching' in cfg) && !('workflow' in cfg), 'absent optional fields are left out, not undefined');
  for (const text of [MINIMAL, EXAMPLE, `${MINIMAL}platform: workflow\nworkflow: pipeline.js\nversions: [2, "10"]\n`]) {
    const once = parse(text);
    assert.deepEqual(parse(stringify(once)), once);
  }
});

test('dynamic_batching fields default like Triton; the default priority level resolves to 1..levels', () => {
  const batching = (body: string) => parse(`max_batch_size: 8\n${MINIMAL}dynamic_batching: ${body}\n`).dynamic_batching;
  assert.deepEqual(batching('{}'), {
    preferred_batch_size: [],
    max_queue_delay_microseconds: 0,
    max_queue_size: 0,
    priority_levels: 0,
    default_priority_level: 1,
    default_timeout_microseconds: 0,
    allow_timeout_override: false,
    preserve_ordering: false,
  });
  // [priority_levels, default_priority_level, resolved default]
  const table: [number, number | undefined, number][] = [
    [0, undefined, 1],
    [1, 0, 1],
    [1, 1, 1],
    [3, undefined, 3],
    [3, 0, 3],
    [3, 2, 2],
  ];
  for (const [levels, def, want] of table) {
    const body = `{ priority_levels: ${levels}${def === undefined ? '' : `, default_priority_level: ${def}`} }`;
    assert.equal(batching(body)?.default_priority_level, want, body);
  }
});

/** [name, YAML, the one expected issue as `line:col path` and a pattern for its message]. */
const BAD: [string, string, string, RegExp][] = [
  ['name differs from dir', `name: other\n${MINIMAL}`, '1:7 name', /found "other"; expected 'ranker', the model's directory name/],
  ['unknown platform', `platform: tensorflow\n${MINIMAL}`, '1:11 platform', /expected one of onnx, workflow/],
  [
    'unknown platform, workflow given',
    `platform: tensorflow\nworkflow: w.js\n${MINIMAL}`,
    '1:11 platform',
    /expected one of onnx, workflow/,
  ],
  ['negative max batch', `max_batch_size: -1\n${MINIMAL}`, '1:17 max_batch_size', /found -1; expected an integer >= 0/],
  [
    'missing inputs',
    'outputs: [{ name: y, datatype: FP32, dims: [2] }]\n',
    '1:1 inputs',
    /found no value \(field missing\); expected a list of tensors/,
  ],
  [
    'empty outputs',
    'inputs: [{ name: x, datatype: FP32, dims: [1] }]\noutputs: []\n',
    '2:10 outputs',
    /found an empty list; expected at least one item/,
  ],
  ['bad datatype', MINIMAL.replace('INT64', 'FLOAT32'), '1:31 inputs[0].datatype', /found "FLOAT32"; expected one of BOOL,/],
  ['datatype typo', MINIMAL.replace('FP32', 'FP23'), '2:32 outputs[0].datatype', /\(did you mean FP32\?\)/],
  ['zero dim', MINIMAL.replace('[2]', '[0]'), '2:45 outputs[0].dims[0]', /found 0; expected a dimension: an integer >= 1, or -1/],
  ['fractional dim', MINIMAL.replace('[2]', '[2.5]'), '2:45 outputs[0].dims[0]', /found 2\.5; expected a dimension/],
  ['empty dims', MINIMAL.replace('[2]', '[]'), '2:44 outputs[0].dims', /found an empty list/],
  ['missing dims', MINIMAL.replace(', dims: [2]', ''), '2:11 outputs[0].dims', /field missing/],
  [
    'duplicate input',
    `inputs:\n  - { name: x, datatype: FP32, dims: [1] }\n  - { name: x, datatype: FP32, dims: [1] }\noutputs: [{ name: y, datatype: FP32, dims: [1] }]\n`,
    '3:13 inputs[1].name',
    /found "x" again; expected each value once/,
  ],
  ['unknown tensor key', MINIMAL.replace('dims: [2]', 'dims: [2], shape: [2]'), '2:49 outputs[0].shape', /unknown field/],
  ['unknown top key with typo', `${MINIMAL}instance: 2\n`, '3:1 instance', /did you mean instances\?/],
  [
    'batching needs max_batch_size',
    `${MINIMAL}dynamic_batching: {}\n`,
    '3:19 dynamic_batching',
    /expected max_batch_size > 0 when dynamic_batching is set/,
  ],
  [
    'batching null',
    `max_batch_size: 8\n${MINIMAL}dynamic_batching:\n`,
    '4:18 dynamic_batching',
    /found an empty value; expected a mapping \(write \{\} for all defaults\)/,
  ],
  [
    'preferred above max',
    `max_batch_size: 8\n${MINIMAL}dynamic_batching: { preferred_batch_size: [4, 16] }\n`,
    '4:47 dynamic_batching.preferred_batch_size[1]',
    /found 16; expected a size <= max_batch_size \(8\)/,
  ],
  [
    'preferred not ascending',
    `max_batch_size: 8\n${MINIMAL}dynamic_batching: { preferred_batch_size: [4, 2] }\n`,
    '4:47 dynamic_batching.preferred_batch_size[1]',
    /found 2; expected sizes in ascending order/,
  ],
  [
    'preferred zero',
    `max_batch_size: 8\n${MINIMAL}dynamic_batching: { preferred_batch_size: [0] }\n`,
    '4:44 dynamic_batching.preferred_batch_size[0]',
    /found 0; expected an integer >= 1/,
  ],
  [
    'default level above levels',
    `max_batch_size: 8\n${MINIMAL}dynamic_batching: { priority_levels: 2, default_priority_level: 3 }\n`,
    '4:65 dynamic_batching.default_priority_level',
    /expected a level from 1 to priority_levels \(2\)/,
  ],
  [
    'batching typo',
    `max_batch_size: 8\n${MINIMAL}dynamic_batching: { max_queue_delay_us: 5 }\n`,
    '4:21 dynamic_batching.max_queue_delay_us',
    /unknown field/,
  ],
  [
    'bool as string',
    `max_batch_size: 8\n${MINIMAL}dynamic_batching: { preserve_ordering: "true" }\n`,
    '4:40 dynamic_batching.preserve_ordering',
    /found "true"; expected true or false/,
  ],
  ['zero instances', `${MINIMAL}instances: 0\n`, '3:12 instances', /expected an integer >= 1/],
  ['no providers', `${MINIMAL}execution_providers: []\n`, '3:22 execution_providers', /found an empty list/],
  [
    'unknown provider',
    `${MINIMAL}execution_providers: [cuda, rocm]\n`,
    '3:29 execution_providers[1]',
    /found "rocm"; expected one of tensorrt, cuda, cpu/,
  ],
  ['duplicate provider', `${MINIMAL}execution_providers: [cpu, cpu]\n`, '3:28 execution_providers[1]', /found "cpu" again/],
  ['negative threads', `${MINIMAL}intra_op_threads: -1\n`, '3:19 intra_op_threads', /expected an integer >= 0/],
  [
    'breaker percentage',
    `${MINIMAL}breaker: { error_threshold_percentage: 101 }\n`,
    '3:40 breaker.error_threshold_percentage',
    /expected a number from 1 to 100/,
  ],
  ['breaker unit typo', `${MINIMAL}breaker: { timeout: 5000 }\n`, '3:12 breaker.timeout', /unknown field/],
  [
    'workflow without module',
    `platform: workflow\n${MINIMAL}`,
    '1:1 workflow',
    /field missing\); expected a module file name, required when platform is 'workflow'/,
  ],
  ['workflow on onnx', `${MINIMAL}workflow: w.js\n`, '3:11 workflow', /expected no workflow field unless platform is 'workflow'/],
  [
    'workflow escapes dir',
    `platform: workflow\nworkflow: ../w.js\n${MINIMAL}`,
    '2:11 workflow',
    /expected a file name relative to the model directory, inside it/,
  ],
  ['version zero', `${MINIMAL}versions: [1, 0]\n`, '3:15 versions[1]', /found 0; expected a positive integer version/],
  ['version name', `${MINIMAL}versions: [v1]\n`, '3:12 versions[0]', /found "v1"/],
  ['duplicate version', `${MINIMAL}versions: [1, "1"]\n`, '3:15 versions[1]', /found "1" again/],
  ['not a mapping', '- inputs\n', '1:1 ', /found a list; expected a mapping/],
];

test('each bad config yields one issue naming the field and its line', () => {
  for (const [name, text, where, want] of BAD) {
    assert.throws(
      () => parse(text),
      (err: unknown) => {
        assert.ok(err instanceof ConfigError, name);
        assert.deepEqual(
          err.issues.map((i) => `${i.line}:${i.col} ${i.path}`),
          [where],
          `${name}:\n${err.message}`,
        );
        assert.equal(err.issues[0].file, 'models/ranker/config.yaml', name);
        assert.match(err.message, want, name);
        return true;
      },
      name,
    );
  }
});

test('all problems in a file are reported together', () => {
  const text = `name: x\nmax_batch_size: 4\n${MINIMAL.replace('INT64', 'INT65')}dynamic_batching: { preferred_batch_size: [8] }\ninstances: 0\n`;
  assert.throws(
    () => parse(text),
    (err: unknown) => {
      assert.ok(err instanceof ConfigError);
      assert.deepEqual(
        err.issues.map((i) => i.path),
        ['name', 'inputs[0].datatype', 'dynamic_batching.preferred_batch_size[0]', 'instances'],
      );
      return true;
    },
  );
});

test('loadModelConfig reads <dir>/config.yaml and names the model after the directory', async () => {
  const root = await mkdtemp(join(tmpdir(), 'model-config-'));
  try {
    await mkdir(join(root, 'scorer'));
    await writeFile(join(root, 'scorer', 'config.yaml'), MINIMAL);
    assert.equal((await loadModelConfig(join(root, 'scorer'))).name, 'scorer');
    assert.equal((await loadModelConfig(join(root, 'scorer') + '/')).name, 'scorer', 'a trailing slash is fine');
    await assert.rejects(loadModelConfig(join(root, 'absent')), /ENOENT/);
  } finally {
    await rm(root, { recursive: true, force: true });
  }
});
