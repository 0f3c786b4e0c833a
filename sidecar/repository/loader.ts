// Start-up: scan the repository, open every version's instances (ONNX
// Runtime sessions or workflow modules), guard each with a breaker, put a
// batcher in front, and hand back the registry. ONNX models load before
// workflows, which call them.
import type { Clock } from '../../common/clock';
import type { Logger } from '../../common/log';
import { DynamicBatcher } from '../scheduler/batcher';
import { InstanceBreaker } from '../runtime/instance-breaker';
import { VersionMetrics, type SidecarMetrics } from '../metrics';
import type { ModelConfig } from './config-types';
import { ModelRegistry, type ServedModel, type ServedVersion } from './registry';
import { scanRepository, type RepositoryEntry } from './scan';
import { ModelStats } from './stats';
import type { ModelRunner, SchedulerObserver } from '../scheduler/types';
import { createOnnxRunner } from '../runtime/session-onnx';
import { loadWorkflow } from '../runtime/workflow';
import { InternalCaller } from '../runtime/workflow-context';

/** What loading needs from the process. */
export interface LoaderDeps {
  readonly clock: Clock;
  readonly log: Logger;
  readonly metrics: SidecarMetrics;
}

/** The loaded models and how to free them. */
export interface LoadedModels {
  readonly registry: ModelRegistry;
  /** Closes every instance (after the registry has drained). */
  close(): Promise<void>;
}

/** Loads every model in dir; throws ConfigError listing every repository problem. */
export async function loadModels(dir: string, deps: LoaderDeps): Promise<LoadedModels> {
  const entries = await scanRepository(dir);
  const breakers: InstanceBreaker[] = [];
  const served: ServedModel[] = [];
  // Workflows reach other models through the registry, which exists only
  // once everything is loaded; the caller is bound to it below.
  const caller = new InternalCaller(deps.clock);
  const ordered = [...entries].sort((a, b) => Number(a.config.platform === 'workflow') - Number(b.config.platform === 'workflow'));
  try {
    for (const entry of ordered) served.push(await loadModel(entry, deps, caller, breakers));
  } catch (e) {
    await Promise.allSettled(breakers.map((b) => b.close()));
    throw e;
  }
  const registry = new ModelRegistry(served);
  caller.bind(registry);
  return {
    registry,
    close: async () => {
      await Promise.allSettled(breakers.map((b) => b.close()));
    },
  };
}

async function loadModel(
  entry: RepositoryEntry,
  deps: LoaderDeps,
  caller: InternalCaller,
  breakers: InstanceBreaker[],
): Promise<ServedModel> {
  const cfg = entry.config;
  const versions = new Map<string, ServedVersion>();
  for (const v of entry.versions) {
    const metrics = new VersionMetrics(deps.metrics, cfg.name, v.version);
    const stats = new ModelStats(cfg.name, v.version);
    const instances: InstanceBreaker[] = [];
    for (let i = 0; i < cfg.instances; i++) {
      const runner = await openRunner(cfg, entry.dir, v.path, caller, deps.log);
      const breaker = new InstanceBreaker(runner, {
        model: `${cfg.name}:${v.version}`,
        instance: String(i),
        config: cfg.breaker,
        log: deps.log,
        clock: deps.clock,
      });
      breaker.onStateChange((s) => {
        metrics.breaker(i, s);
        deps.log.warn('breaker state changed', { model: cfg.name, version: v.version, instance: i, state: s });
      });
      metrics.breaker(i, 'closed');
      instances.push(breaker);
      breakers.push(breaker);
    }
    const scheduler = new DynamicBatcher({
      config: cfg,
      instances,
      clock: deps.clock,
      observer: observerFor(stats, metrics),
      log: deps.log,
    });
    versions.set(v.version, { version: v.version, scheduler, stats, metrics });
  }
  const versionNames = entry.versions.map((v) => v.version);
  return { config: cfg, versions, versionNames, latest: versions.get(versionNames[versionNames.length - 1])! };
}

function openRunner(cfg: ModelConfig, modelDir: string, versionPath: string, caller: InternalCaller, log: Logger): Promise<ModelRunner> {
  if (cfg.platform === 'workflow') return loadWorkflow(modelDir, cfg, caller);
  return createOnnxRunner(`${versionPath}/model.onnx`, cfg, log);
}

function observerFor(stats: ModelStats, metrics: VersionMetrics): SchedulerObserver {
  return {
    onBatch: (_requests, rows, computeMs, ok) => {
      metrics.computeTime.observe(computeMs / 1000);
      metrics.batchSize.observe(rows);
      if (ok) stats.recordExecution(rows, computeMs);
    },
    onRejected: (reason) => metrics.rejected(reason),
  };
}
