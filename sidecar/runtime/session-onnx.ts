// A ModelRunner over an onnxruntime-node InferenceSession.
//
// Execution providers are tried in the config's order, each attempt keeping
// the rest of the list as ONNX Runtime's per-node fallback; a host without a
// GPU runtime opens the session on the first provider that loads and says so
// in exactly one log line per session. Names, types and shapes are checked
// against the config when the session opens, so a mismatched model fails at
// start-up naming the file and tensor instead of on the first request.
//
// Note: onnxruntime-node runs a session on the JS thread (inside
// setImmediate), so run() blocks the event loop for the batch's compute time.
import * as ort from 'onnxruntime-node';
import type { Logger } from '../../common/log';
import type { ExecutionProvider, ModelConfig, TensorSpec } from '../repository/config-types';
import type { ModelRunner } from '../scheduler/types';
import { ORT_TYPE, type Tensor, type TensorData } from '../../protocol/tensor';

/** ONNX Runtime's name for each execution provider a config may name. */
export const ORT_PROVIDER: Readonly<Record<ExecutionProvider, string>> = { tensorrt: 'tensorrt', cuda: 'cuda', cpu: 'cpu' };

/** Opens model.onnx as a runner; throws an Error naming the file when it cannot be opened or does not match config. */
export async function createOnnxRunner(modelPath: string, config: ModelConfig, log: Logger): Promise<ModelRunner> {
  const session = await openSession(modelPath, config, log);
  try {
    checkSignature(modelPath, config, session);
  } catch (e) {
    await session.release();
    throw e;
  }
  return new OnnxRunner(session, config);
}

class OnnxRunner implements ModelRunner {
  private readonly outputNames: readonly string[];

  constructor(
    private readonly session: ort.InferenceSession,
    private readonly config: ModelConfig,
  ) {
    this.outputNames = config.outputs.map((o) => o.name);
  }

  async run(inputs: readonly Tensor[]): Promise<Tensor[]> {
    const feeds: Record<string, ort.Tensor> = {};
    for (const t of inputs) {
      // The typed array goes to ONNX Runtime as it is: no copy (protocol/tensor.ts picks storage ORT accepts).
      feeds[t.name] = new ort.Tensor(ORT_TYPE[t.datatype] as ort.Tensor.Type, t.data, t.shape);
    }
    const result = await this.session.run(feeds, this.outputNames);
    return this.config.outputs.map((spec) => {
      const v = result[spec.name];
      return { name: spec.name, datatype: spec.datatype, shape: v.dims, data: v.data as TensorData };
    });
  }

  async close(): Promise<void> {
    await this.session.release();
  }
}

let ortLogsQuieted = false;

// ONNX Runtime writes several unstructured stderr lines for every provider
// library it fails to load; the single structured line from openSession
// replaces them, and real failures still reach us as exceptions. The level is
// process-wide and read once, before the first session, so it is set here
// unless someone chose a level of their own.
function quietOrtLogs(): void {
  if (ortLogsQuieted) return;
  ortLogsQuieted = true;
  if (ort.env.logLevel === 'warning') ort.env.logLevel = 'fatal';
}

/** Creates the session on the most preferred provider that loads, logging one line about the choice. */
async function openSession(file: string, config: ModelConfig, log: Logger): Promise<ort.InferenceSession> {
  quietOrtLogs();
  const prefs = config.execution_providers.length > 0 ? config.execution_providers : (['cpu'] as const);
  const failures: string[] = [];
  for (let i = 0; i < prefs.length; i++) {
    const options: ort.InferenceSession.SessionOptions = {
      executionProviders: prefs.slice(i).map((p) => ORT_PROVIDER[p]),
      graphOptimizationLevel: 'all',
      // 0 leaves the pool size to ONNX Runtime (one thread per core).
      ...(config.intra_op_threads > 0 && { intraOpNumThreads: config.intra_op_threads }),
    };
    try {
      const session = await ort.InferenceSession.create(file, options);
      const fields = { model: config.name, file, requested: prefs[0], used: prefs[i] };
      if (i === 0) log.info(`onnx session opened on ${prefs[i]}`, fields);
      else log.warn(`execution provider ${prefs[0]} unavailable; onnx session opened on ${prefs[i]}`, { ...fields, unavailable: failures });
      return session;
    } catch (e) {
      failures.push(`${prefs[i]}: ${e instanceof Error ? e.message : String(e)}`);
    }
  }
  // The last attempt's error is about the file itself when earlier ones were missing providers.
  throw new Error(`${file}: cannot open ONNX model for ${config.name} on any of [${prefs.join(', ')}]: ${failures.join('; ')}`);
}

/** Throws naming the file and tensor unless the session's inputs and outputs match the config's. */
function checkSignature(file: string, config: ModelConfig, session: ort.InferenceSession): void {
  const problems = [
    ...compare('input', config.inputs, session.inputMetadata, config.max_batch_size > 0),
    ...compare('output', config.outputs, session.outputMetadata, config.max_batch_size > 0),
  ];
  if (problems.length > 0) throw new Error(`${file} does not match the config of model ${config.name}: ${problems.join('; ')}`);
}

function compare(
  kind: string,
  specs: readonly TensorSpec[],
  meta: readonly ort.InferenceSession.ValueMetadata[],
  batched: boolean,
): string[] {
  const problems: string[] = [];
  const byName = new Map(meta.map((m) => [m.name, m]));
  for (const spec of specs) {
    const m = byName.get(spec.name);
    if (!m) {
      problems.push(`config ${kind} '${spec.name}' is not a model ${kind} (model ${kind}s: ${meta.map((x) => x.name).join(', ')})`);
      continue;
    }
    if (!m.isTensor) {
      problems.push(`model ${kind} '${spec.name}' is not a tensor`);
      continue;
    }
    if (m.type !== ORT_TYPE[spec.datatype])
      problems.push(`${kind} '${spec.name}' is ${m.type} in the model, ${spec.datatype} in the config`);
    const expected = batched ? [-1, ...spec.dims] : spec.dims;
    if (!shapeFits(m.shape, expected)) {
      problems.push(
        `${kind} '${spec.name}' has shape [${m.shape.join(', ')}] in the model; the config implies [${expected.join(', ')}] (-1 = variable)`,
      );
    }
  }
  for (const m of meta) {
    if (!specs.some((s) => s.name === m.name)) problems.push(`model ${kind} '${m.name}' is missing from the config`);
  }
  return problems;
}

/** Whether a model shape accepts every shape the config allows; an unknown model shape ([]) accepts all. */
function shapeFits(model: ReadonlyArray<number | string>, config: readonly number[]): boolean {
  if (model.length === 0) return true;
  if (model.length !== config.length) return false;
  // A symbolic or -1 model dim accepts anything; a fixed one only that size, never a config's variable dim.
  return model.every((d, i) => typeof d === 'string' || d < 0 || d === config[i]);
}
