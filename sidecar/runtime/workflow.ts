// Workflow models: pre- and post-processing in TypeScript beside a model's
// config, calling other models of the same sidecar (Triton's ensembles and
// BLS, as code). A model directory holds
//
//   models/<name>/config.yaml    platform: workflow, workflow: workflow.ts
//   models/<name>/workflow.ts    the module
//
// and the module exports
//
//   export function createWorkflow(config: ModelConfig, ctx: WorkflowContext): ModelRunner
//
// (or a Promise of one). run() receives the inputs the config declares, in
// config order, already checked against their datatypes and dims, and returns
// the outputs in config order. Throw an InferError (protocol/status.ts) to give
// the caller a precise status, e.g. INVALID_ARGUMENT naming the bad input;
// anything else thrown becomes INTERNAL.
//
// tsc compiles models/ along with the rest, so at run time the module is
// loaded from a `.js` file beside config.yaml when there is one (a workflow
// shipped pre-compiled, or a repository outside this package), else from
// the compiled mirror of the model directory under this package's dist/.
import { existsSync } from 'node:fs';
import * as path from 'node:path';
import type { ModelConfig } from '../repository/config-types';
import type { ModelRunner } from '../scheduler/types';
import type { Tensor } from '../../protocol/tensor';

/** What a workflow may call: the other models of the sidecar it runs in. */
export interface WorkflowContext {
  /**
   * Runs a model (version undefined = its latest) with inputs in its config
   * order, through its scheduler, so these calls batch with outside traffic.
   * Rejects with an InferError.
   */
  infer(model: string, version: string | undefined, inputs: Tensor[]): Promise<Tensor[]>;
}

/** The function a workflow module exports. */
export type CreateWorkflow = (config: ModelConfig, ctx: WorkflowContext) => ModelRunner | Promise<ModelRunner>;

/** A workflow module's exports. */
export interface WorkflowModule {
  /** Builds one instance; called once per configured instance. */
  readonly createWorkflow: CreateWorkflow;
}

/** The package root, from both sidecar/runtime/ (ts) and dist/sidecar/runtime/ (js). */
const PACKAGE_ROOT = path.resolve(__dirname, __dirname.includes(`${path.sep}dist${path.sep}`) ? '../../..' : '../..');

/** The files a workflow module may be loaded from, in the order tried. */
export function workflowCandidates(modelDir: string, config: ModelConfig): string[] {
  if (!config.workflow) throw new Error(`${path.join(modelDir, 'config.yaml')}: platform workflow needs a workflow module`);
  const dir = path.resolve(modelDir);
  const source = path.join(dir, config.workflow);
  const js = source.replace(/\.[cm]?tsx?$/, '.js');
  const candidates = [js];
  const rel = path.relative(PACKAGE_ROOT, js);
  // Only directories inside the package have a compiled mirror under dist/.
  if (!rel.startsWith('..') && !path.isAbsolute(rel) && !rel.startsWith(`dist${path.sep}`)) {
    candidates.push(path.join(PACKAGE_ROOT, 'dist', rel));
  }
  return candidates;
}

/** Loads the workflow module named by config.workflow and creates one instance; errors name the file. */
export async function loadWorkflow(modelDir: string, config: ModelConfig, ctx: WorkflowContext): Promise<ModelRunner> {
  const candidates = workflowCandidates(modelDir, config);
  const file = candidates.find((f) => existsSync(f));
  if (!file) {
    throw new Error(
      `workflow module of model ${config.name} not found: tried ${candidates.join(', ')} ` +
        `(compile ${path.join(path.resolve(modelDir), config.workflow ?? '')} with tsc, or put a .js file beside config.yaml)`,
    );
  }
  let mod: Partial<WorkflowModule>;
  try {
    // require, not import(): the package is CommonJS and the module is chosen at run time.
    mod = require(file) as Partial<WorkflowModule>;
  } catch (e) {
    throw new Error(`${file}: cannot load workflow module of model ${config.name}: ${e instanceof Error ? e.message : String(e)}`);
  }
  if (typeof mod.createWorkflow !== 'function') {
    throw new Error(`${file}: a workflow module must export function createWorkflow(config, ctx); found ${typeof mod.createWorkflow}`);
  }
  let runner: ModelRunner;
  try {
    runner = await mod.createWorkflow(config, ctx);
  } catch (e) {
    throw new Error(`${file}: createWorkflow failed for model ${config.name}: ${e instanceof Error ? e.message : String(e)}`);
  }
  if (typeof runner?.run !== 'function' || typeof runner.close !== 'function') {
    throw new Error(`${file}: createWorkflow must return a ModelRunner ({ run(inputs), close() })`);
  }
  return runner;
}
