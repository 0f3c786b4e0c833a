// Reads models/<name>/config.yaml into a ModelConfig. YAML keys map 1:1 onto
// ModelConfig (snake_case); omitted optional fields take the defaults below,
// and every problem in a file is reported at once, with its line.
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { ConfigDocument, type Mapping, type Value } from '../../common/config-check';
import { DATATYPES } from '../../protocol/tensor';
import type { BreakerConfig, DynamicBatchingConfig, ExecutionProvider, ModelConfig, TensorSpec } from './config-types';

/** Execution providers a config may name. */
export const EXECUTION_PROVIDERS: readonly ExecutionProvider[] = ['tensorrt', 'cuda', 'cpu'];

/** Breaker thresholds used for fields the config leaves out. */
export const DEFAULT_BREAKER: BreakerConfig = {
  timeout_ms: 5000,
  error_threshold_percentage: 50,
  volume_threshold: 20,
  reset_timeout_ms: 2000,
  rolling_window_ms: 10_000,
};

const ROOT_KEYS = [
  'name',
  'platform',
  'max_batch_size',
  'inputs',
  'outputs',
  'dynamic_batching',
  'instances',
  'execution_providers',
  'intra_op_threads',
  'breaker',
  'workflow',
  'versions',
];
const TENSOR_KEYS = ['name', 'datatype', 'dims'];
const BATCHING_KEYS = [
  'preferred_batch_size',
  'max_queue_delay_microseconds',
  'max_queue_size',
  'priority_levels',
  'default_priority_level',
  'default_timeout_microseconds',
  'allow_timeout_override',
  'preserve_ordering',
];
const BREAKER_KEYS = Object.keys(DEFAULT_BREAKER);
const PLATFORMS = ['onnx', 'workflow'] as const;

/** Parses and checks one config.yaml; throws a ConfigError listing every problem. dirName is the model directory's name. */
export function parseModelConfig(text: string, file: string, dirName: string): ModelConfig {
  const doc = ConfigDocument.parse(text, file);
  const root = doc.root.map(ROOT_KEYS);

  const name = root.opt('name', dirName, (v) => v.string());
  if (name !== dirName) root.get('name')?.fail(`'${dirName}', the model's directory name (or leave name out)`);
  // undefined when invalid, so checks that depend on the platform stay quiet instead of guessing.
  const platformV = root.get('platform');
  const platform = platformV ? platformV.oneOf(PLATFORMS) : 'onnx';
  const maxBatch = root.opt('max_batch_size', 0, (v) => v.int({ min: 0 }));
  const inputs = root.field('inputs').list(tensorReader(), { nonEmpty: true, what: 'a list of tensors {name, datatype, dims}' });
  const outputs = root.field('outputs').list(tensorReader(), { nonEmpty: true, what: 'a list of tensors {name, datatype, dims}' });

  let batching: DynamicBatchingConfig | undefined;
  if (root.get('dynamic_batching')) {
    batching = readBatching(root.section('dynamic_batching', BATCHING_KEYS), maxBatch);
    if (maxBatch === 0) {
      root
        .get('dynamic_batching')
        ?.fail('max_batch_size > 0 when dynamic_batching is set (or no dynamic_batching)', 'dynamic_batching with max_batch_size 0');
    }
  }

  const instances = root.opt('instances', 1, (v) => v.int({ min: 1 }));
  const seenEp = new Set<string>();
  // CPU alone by default: it works on every host; GPUs are opted into, so a missing driver fails loudly.
  const providers = root.opt<readonly ExecutionProvider[]>('execution_providers', ['cpu'], (v) =>
    v.list((p) => unique(p, p.oneOf(EXECUTION_PROVIDERS), seenEp), {
      nonEmpty: true,
      what: `a list of execution providers (${EXECUTION_PROVIDERS.join(', ')})`,
    }),
  );
  // 0 leaves the choice to ONNX Runtime.
  const intraOp = root.opt('intra_op_threads', 0, (v) => v.int({ min: 0 }));
  const b = root.section('breaker', BREAKER_KEYS);
  const D = DEFAULT_BREAKER;
  const breaker: BreakerConfig = {
    timeout_ms: b.opt('timeout_ms', D.timeout_ms, (v) => v.int({ min: 1 })),
    error_threshold_percentage: b.opt('error_threshold_percentage', D.error_threshold_percentage, (v) => v.number({ min: 1, max: 100 })),
    volume_threshold: b.opt('volume_threshold', D.volume_threshold, (v) => v.int({ min: 0 })),
    reset_timeout_ms: b.opt('reset_timeout_ms', D.reset_timeout_ms, (v) => v.int({ min: 1 })),
    rolling_window_ms: b.opt('rolling_window_ms', D.rolling_window_ms, (v) => v.int({ min: 1 })),
  };

  const workflow = readWorkflow(root, platform);
  const seenVersion = new Set<string>();
  const versions = root.opt<readonly string[]>('versions', [], (v) =>
    v.list((i) => unique(i, readVersion(i), seenVersion), { what: 'a list of version numbers' }),
  );

  return doc.finish<ModelConfig>({
    name,
    platform: platform ?? 'onnx',
    max_batch_size: maxBatch,
    inputs: inputs ?? [],
    outputs: outputs ?? [],
    // Absent optional fields are left out rather than set to undefined, so configs compare with deepEqual.
    ...(batching && { dynamic_batching: batching }),
    instances,
    execution_providers: providers,
    intra_op_threads: intraOp,
    breaker,
    ...(workflow !== undefined && { workflow }),
    versions,
  });
}

/** Reads `<modelDir>/config.yaml`, naming the model after the directory. */
export async function loadModelConfig(modelDir: string): Promise<ModelConfig> {
  const file = join(modelDir, 'config.yaml');
  const dirName =
    modelDir
      .replace(/[\\/]+$/, '')
      .split(/[\\/]/)
      .pop() ?? modelDir;
  return parseModelConfig(await readFile(file, 'utf8'), file, dirName);
}

/** Reports a repeated item at its place; returns the item when it is new. */
function unique<T extends string>(v: Value, item: T | undefined, seen: Set<string>): T | undefined {
  if (item === undefined) return undefined;
  if (seen.has(item)) return v.fail('each value once', `${v.describe()} again`);
  seen.add(item);
  return item;
}

/** A reader for one list of tensors; names must be unique within the list. */
function tensorReader(): (v: Value) => TensorSpec | undefined {
  const names = new Set<string>();
  return (v) => {
    const m = v.map(TENSOR_KEYS);
    const nameV = m.field('name');
    const name = unique(nameV, nameV.string(), names);
    const datatype = m.field('datatype').oneOf(DATATYPES);
    const dims = m.field('dims').list(
      (d) => {
        const n = d.raw();
        return Number.isSafeInteger(n) && (Number(n) >= 1 || n === -1)
          ? Number(n)
          : d.fail('a dimension: an integer >= 1, or -1 for variable');
      },
      { nonEmpty: true, what: 'a list of dimensions (integers >= 1, or -1 for variable)' },
    );
    return name !== undefined && datatype !== undefined && dims !== undefined ? { name, datatype, dims } : undefined;
  };
}

/** Dynamic batching with Triton's defaults; preferred sizes ascend and fit max_batch_size. */
function readBatching(m: Mapping, maxBatch: number): DynamicBatchingConfig {
  let prev = 0;
  const preferred = m.opt<readonly number[]>('preferred_batch_size', [], (l) =>
    l.list(
      (v) => {
        const n = v.int({ min: 1 });
        if (n === undefined) return undefined;
        if (maxBatch > 0 && n > maxBatch) return v.fail(`a size <= max_batch_size (${maxBatch})`);
        if (n <= prev) return v.fail(`sizes in ascending order, each above the one before (${prev})`);
        prev = n;
        return n;
      },
      { what: 'a list of batch sizes' },
    ),
  );
  const levels = m.opt('priority_levels', 0, (v) => v.int({ min: 0 }));
  // 0 or absent means the lowest level, as sidecar/server/request-check.ts resolves it; stored resolved so readers see 1..levels.
  const top = Math.max(1, levels);
  let defaultLevel = m.opt('default_priority_level', 0, (v) => v.int({ min: 0 })) || top;
  if (defaultLevel > top) {
    m.get('default_priority_level')?.fail(`a level from 1 to priority_levels (${top}), or 0 for the lowest`);
    defaultLevel = top;
  }
  return {
    preferred_batch_size: preferred,
    max_queue_delay_microseconds: m.opt('max_queue_delay_microseconds', 0, (v) => v.int({ min: 0 })),
    max_queue_size: m.opt('max_queue_size', 0, (v) => v.int({ min: 0 })),
    priority_levels: levels,
    default_priority_level: defaultLevel,
    default_timeout_microseconds: m.opt('default_timeout_microseconds', 0, (v) => v.int({ min: 0 })),
    allow_timeout_override: m.opt('allow_timeout_override', false, (v) => v.bool()),
    preserve_ordering: m.opt('preserve_ordering', false, (v) => v.bool()),
  };
}

/** The workflow module: required by platform 'workflow', forbidden for 'onnx'; a relative path inside the model directory. */
function readWorkflow(root: Mapping, platform: 'onnx' | 'workflow' | undefined): string | undefined {
  const v = root.get('workflow');
  if (platform === undefined) return undefined;
  if (platform === 'onnx') {
    v?.fail("no workflow field unless platform is 'workflow'", `workflow ${v.describe()} with platform onnx`);
    return undefined;
  }
  if (!v) return root.field('workflow').fail("a module file name, required when platform is 'workflow'");
  const file = v.string();
  if (file === undefined) return undefined;
  if (/^([\\/]|[A-Za-z]:)/.test(file) || file.split(/[\\/]/).includes('..')) {
    return v.fail('a file name relative to the model directory, inside it');
  }
  return file;
}

/** A version: a positive integer, written as a number or a string. */
function readVersion(v: Value): string | undefined {
  const raw = v.raw();
  const s = typeof raw === 'number' || typeof raw === 'string' ? String(raw) : '';
  return /^[1-9][0-9]*$/.test(s) ? s : v.fail('a positive integer version, e.g. 1');
}
