// The models a sidecar serves, by name and version, and the lookup every
// request makes first. Built once at start-up by loader.ts; read-only
// afterwards, so the hot path is two Map lookups.
import { invalidArgument, notFound } from '../../protocol/status';
import type { ModelConfig } from './config-types';
import type { VersionMetrics } from '../metrics';
import type { ModelStats } from './stats';
import type { Scheduler } from '../scheduler/types';

/** One served version of a model. */
export interface ServedVersion {
  readonly version: string;
  readonly scheduler: Scheduler;
  readonly stats: ModelStats;
  readonly metrics: VersionMetrics;
}

/** One served model with all its versions. */
export interface ServedModel {
  readonly config: ModelConfig;
  /** Versions by name. */
  readonly versions: ReadonlyMap<string, ServedVersion>;
  /** Version names, ascending numerically. */
  readonly versionNames: readonly string[];
  /** The version used when a request names none: the highest. */
  readonly latest: ServedVersion;
}

/** Name → model lookup with precise NOT_FOUND messages. */
export class ModelRegistry {
  private readonly models: ReadonlyMap<string, ServedModel>;

  constructor(models: readonly ServedModel[]) {
    this.models = new Map(models.map((m) => [m.config.name, m]));
  }

  /** All served models, in name order. */
  list(): ServedModel[] {
    return [...this.models.values()].sort((a, b) => a.config.name.localeCompare(b.config.name));
  }

  /** The model, or NOT_FOUND naming what is served. */
  model(name: string): ServedModel {
    if (!name) throw invalidArgument('model_name is empty; expected the name of a served model');
    const m = this.models.get(name);
    if (!m) {
      throw notFound(`model '${name}' is not served here; served models: ${[...this.models.keys()].sort().join(', ') || '(none)'}`);
    }
    return m;
  }

  /** The model and version ('' = latest), or NOT_FOUND naming the versions served. */
  resolve(name: string, version: string): { model: ServedModel; served: ServedVersion } {
    const model = this.model(name);
    if (!version) return { model, served: model.latest };
    const served = model.versions.get(version);
    if (!served) {
      throw notFound(`model '${name}' has no version '${version}'; served versions: ${model.versionNames.join(', ')}`);
    }
    return { model, served };
  }

  /** Whether a model (and version, '' = any) can take requests now. */
  isReady(name: string, version: string): boolean {
    const m = this.models.get(name);
    if (!m) return false;
    if (!version) return [...m.versions.values()].some((v) => v.scheduler.ready());
    return m.versions.get(version)?.scheduler.ready() ?? false;
  }

  /** Whether every model has at least one ready version. */
  allReady(): boolean {
    for (const name of this.models.keys()) if (!this.isReady(name, '')) return false;
    return this.models.size > 0;
  }

  /** Stops every scheduler, letting queued and running work finish. */
  async drain(): Promise<void> {
    const all: Promise<void>[] = [];
    for (const m of this.models.values()) for (const v of m.versions.values()) all.push(v.scheduler.drain());
    await Promise.all(all);
  }
}
