// Finds the models a sidecar serves: every subdirectory of the repository
// holding a config.yaml is a model, and its positive-integer subdirectories
// are versions (Triton's layout):
//
//   <repo>/<model>/config.yaml
//   <repo>/<model>/<version>/model.onnx
//
// A broken repository fails the whole scan with every problem listed in one
// ConfigError: operators would rather have a sidecar refuse to start than
// silently serve a subset of models, and they want all fixes in one pass.
// The scan reads only the file tree and config.yaml; it never loads ONNX.
import { readdir, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { ConfigError, type ConfigIssue } from '../../common/config-check';
import { loadModelConfig } from './config';
import type { ModelConfig } from './config-types';

/** One version of a model found on disk. */
export interface RepositoryVersion {
  /** The version name: a positive integer, as a string. */
  readonly version: string;
  /** The version directory (holding model.onnx for onnx models); a versionless workflow's model directory. */
  readonly path: string;
}

/** One model found in the repository. */
export interface RepositoryEntry {
  readonly config: ModelConfig;
  /** The model directory. */
  readonly dir: string;
  /** The versions to serve, ascending numerically; never empty. */
  readonly versions: readonly RepositoryVersion[];
}

/** Canonical version names: positive integers without leading zeros. */
const VERSION_NAME = /^[1-9][0-9]*$/;

/** Lists the repository's models; throws one ConfigError naming every problem found (bad configs, missing files). */
export async function scanRepository(dir: string): Promise<RepositoryEntry[]> {
  const issues: ConfigIssue[] = [];
  const problem = (file: string, found: string, expected: string, path = '') => issues.push({ file, path, found, expected });
  const names = await listDir(dir);
  if (!names) throw new ConfigError([{ file: dir, path: '', found: 'no readable directory', expected: 'a model repository directory' }]);

  const entries: RepositoryEntry[] = [];
  for (const name of names.sort()) {
    // Hidden entries include the ..data links Kubernetes puts in mounted ConfigMaps.
    if (name.startsWith('.')) continue;
    const modelDir = join(dir, name);
    if (!(await isDir(modelDir))) continue; // plain files (READMEs and the like) are not models
    const files = await listDir(modelDir);
    if (!files) {
      problem(modelDir, 'an unreadable directory', 'a model directory the sidecar may read');
      continue;
    }
    if (!files.includes('config.yaml')) {
      if (files.includes('config.yml')) problem(join(modelDir, 'config.yml'), 'config.yml', 'the file to be named config.yaml');
      continue;
    }
    let config: ModelConfig;
    try {
      config = await loadModelConfig(modelDir);
    } catch (err) {
      if (err instanceof ConfigError) issues.push(...err.issues);
      else
        problem(
          join(modelDir, 'config.yaml'),
          `an unreadable file (${err instanceof Error ? err.message : String(err)})`,
          'a readable config.yaml',
        );
      continue;
    }
    const versions = await findVersions(modelDir, files, config, problem);
    if (versions.length > 0) entries.push({ config, dir: modelDir, versions });
  }
  if (entries.length === 0 && issues.length === 0) {
    problem(dir, 'no models', `at least one model directory holding config.yaml, e.g. ${join(dir, '<model>', 'config.yaml')}`);
  }
  if (issues.length > 0) throw new ConfigError(issues);
  return entries;
}

type Problem = (file: string, found: string, expected: string, path?: string) => void;

/** The versions to serve, checked against config.versions and (onnx) model.onnx; problems go to problem. */
async function findVersions(
  modelDir: string,
  files: readonly string[],
  config: ModelConfig,
  problem: Problem,
): Promise<RepositoryVersion[]> {
  const onDisk: string[] = [];
  for (const f of files) {
    if (!/^[0-9]+$/.test(f) || !(await isDir(join(modelDir, f)))) continue;
    // '0' or '007' look like versions but would be ambiguous; say so rather than ignore them.
    if (VERSION_NAME.test(f)) onDisk.push(f);
    else problem(join(modelDir, f), `version directory '${f}'`, 'version directories named by positive integers without leading zeros');
  }
  const onnx = config.platform === 'onnx';
  // A workflow needs no files of its own per version: without version directories it serves version 1 from its model directory.
  const versionless = !onnx && onDisk.length === 0;
  if (onnx && onDisk.length === 0) {
    problem(modelDir, 'no version directories', `at least one, e.g. ${join(modelDir, '1', 'model.onnx')}`);
    return [];
  }
  const available = versionless ? ['1'] : onDisk;
  const missing = config.versions.filter((v) => !available.includes(v));
  for (const v of missing) {
    problem(
      join(modelDir, 'config.yaml'),
      `version ${v}, which has no directory ${join(modelDir, v)}`,
      `versions found on disk (${available.join(', ')})`,
      'versions',
    );
  }
  const served = config.versions.length > 0 ? config.versions.filter((v) => available.includes(v)) : available;
  const out: RepositoryVersion[] = [];
  for (const version of served) {
    const path = versionless ? modelDir : join(modelDir, version);
    if (onnx && !(await isFile(join(path, 'model.onnx')))) {
      problem(join(path, 'model.onnx'), 'no such file', `the ONNX model of version ${version}`);
    } else {
      out.push({ version, path });
    }
  }
  return missing.length > 0 || out.length < served.length ? [] : out.sort((a, b) => compareVersions(a.version, b.version));
}

/** Orders canonical version names numerically, without the 2^53 limit of Number. */
export function compareVersions(a: string, b: string): number {
  return a.length - b.length || (a < b ? -1 : a > b ? 1 : 0);
}

/** The directory's entries, or undefined when it is not a readable directory (symlinks followed). */
async function listDir(path: string): Promise<string[] | undefined> {
  return (await isDir(path)) ? readdir(path).catch(() => undefined) : undefined;
}

async function isDir(path: string): Promise<boolean> {
  return stat(path).then(
    (s) => s.isDirectory(),
    () => false,
  );
}

async function isFile(path: string): Promise<boolean> {
  return stat(path).then(
    (s) => s.isFile(),
    () => false,
  );
}
