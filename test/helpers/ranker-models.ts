// Shared set-up for tests running the generated ranker on ONNX Runtime:
// models written to a temp repository by the real generator, and the
// committed model configs read by the real parser.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { loadModelConfig } from '../../sidecar/repository/config';
import type { ModelConfig } from '../../sidecar/repository/config-types';
import { writeModels } from '../../scripts/gen-models';

/** The repository root, from dist/test/helpers. */
export const REPO_ROOT = path.resolve(__dirname, '../../..');

/** The committed models/<name> directory. */
export const repoModelDir = (name: string): string => path.join(REPO_ROOT, 'models', name);

/** The committed config of models/<name>, parsed as the sidecar parses it. */
export function repoConfig(name: string): Promise<ModelConfig> {
  return loadModelConfig(repoModelDir(name));
}

/** A temp model repository holding freshly generated models; remove() deletes it. */
export function generatedModels(): { dir: string; modelPath(version: number): string; remove(): void } {
  const dir = mkdtempSync(path.join(tmpdir(), 'infergate-models-'));
  writeModels(dir);
  return {
    dir,
    modelPath: (version) => path.join(dir, 'ranker', String(version), 'model.onnx'),
    remove: () => rmSync(dir, { recursive: true, force: true }),
  };
}

export { captureLogger, type LogLine } from './capture-log';
