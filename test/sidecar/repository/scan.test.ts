import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, mkdir, rm, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { ConfigError } from '../../../common/config-check';
import { compareVersions, scanRepository } from '../../../sidecar/repository/scan';

const ONNX_CONFIG = `max_batch_size: 8
inputs: [{ name: x, datatype: FP32, dims: [4] }]
outputs: [{ name: y, datatype: FP32, dims: [1] }]
`;
const WORKFLOW_CONFIG = `platform: workflow\nworkflow: pipeline.js\n${ONNX_CONFIG}`;
// The scan never loads ONNX, so any bytes stand in for a model.
const FAKE_ONNX = Buffer.from([0x08, 0x07, 0x12, 0x00]);

/** A tree spec: relative path → file contents; a path ending in '/' is an empty directory. */
type Tree = Record<string, string | Buffer>;

/** Builds the tree in a fresh temp dir, runs fn on it, and removes it. */
async function withRepo<T>(tree: Tree, fn: (dir: string) => Promise<T>): Promise<T> {
  const dir = await mkdtemp(join(tmpdir(), 'model-repo-'));
  try {
    for (const [path, contents] of Object.entries(tree)) {
      if (path.endsWith('/')) {
        await mkdir(join(dir, path), { recursive: true });
      } else {
        await mkdir(dirname(join(dir, path)), { recursive: true });
        await writeFile(join(dir, path), contents);
      }
    }
    return await fn(dir);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

/** The scan's issues, as `path relative to the repo: message` with the repo dir removed. */
async function scanIssues(tree: Tree): Promise<string[]> {
  return withRepo(tree, async (dir) => {
    try {
      await scanRepository(dir);
    } catch (err) {
      assert.ok(err instanceof ConfigError, String(err));
      return err.issues.map((i) =>
        `${i.file.slice(dir.length + 1)}${i.line ? `:${i.line}` : ''}: ${i.path ? `${i.path}: ` : ''}found ${i.found}; expected ${i.expected}`.replaceAll(
          dir,
          '<repo>',
        ),
      );
    }
    return assert.fail('expected a ConfigError');
  });
}

test('a good repository lists models by name and versions in numeric order', async () => {
  const tree: Tree = {
    'ranker/config.yaml': ONNX_CONFIG,
    'ranker/1/model.onnx': FAKE_ONNX,
    'ranker/10/model.onnx': FAKE_ONNX,
    'ranker/2/model.onnx': FAKE_ONNX,
    'ranker/notes/': '', // not a version: not numeric
    'pinned/config.yaml': `${ONNX_CONFIG}versions: [3, 1]\n`,
    'pinned/1/model.onnx': FAKE_ONNX,
    'pinned/2/': '', // not listed, so not checked for model.onnx
    'pinned/3/model.onnx': FAKE_ONNX,
    'flow/config.yaml': WORKFLOW_CONFIG,
    'flow/pipeline.js': '',
    'flow2/config.yaml': WORKFLOW_CONFIG,
    'flow2/5/': '',
    'README.md': 'not a model',
    'scratch/': '', // no config.yaml: not a model
    '.hidden/config.yaml': 'not: [valid',
  };
  await withRepo(tree, async (dir) => {
    const entries = await scanRepository(dir);
    const got = entries.map((e) => ({
      name: e.config.name,
      dir: e.dir,
      versions: e.versions.map((v) => [v.version, v.path.slice(dir.length)]),
    }));
    assert.deepEqual(got, [
      { name: 'flow', dir: join(dir, 'flow'), versions: [['1', '/flow']] },
      { name: 'flow2', dir: join(dir, 'flow2'), versions: [['5', '/flow2/5']] },
      {
        name: 'pinned',
        dir: join(dir, 'pinned'),
        versions: [
          ['1', '/pinned/1'],
          ['3', '/pinned/3'],
        ],
      },
      {
        name: 'ranker',
        dir: join(dir, 'ranker'),
        versions: [
          ['1', '/ranker/1'],
          ['2', '/ranker/2'],
          ['10', '/ranker/10'],
        ],
      },
    ]);
  });
});

test('symlinked model directories are followed (as in mounted volumes)', async () => {
  await withRepo({ 'store/m/config.yaml': ONNX_CONFIG, 'store/m/1/model.onnx': FAKE_ONNX, 'repo/': '' }, async (dir) => {
    await symlink(join(dir, 'store', 'm'), join(dir, 'repo', 'm'));
    const entries = await scanRepository(join(dir, 'repo'));
    assert.deepEqual(
      entries.map((e) => [e.config.name, e.versions.length]),
      [['m', 1]],
    );
  });
});

test('each broken repository is rejected with the problem and its path', async () => {
  const cases: { name: string; tree: Tree; want: string[] }[] = [
    { name: 'empty repository', tree: { 'x/': '' }, want: [/* filled below */] },
    {
      name: 'no version dirs',
      tree: { 'm/config.yaml': ONNX_CONFIG },
      want: ['m: found no version directories; expected at least one, e.g. <repo>/m/1/model.onnx'],
    },
    {
      name: 'missing model.onnx',
      tree: { 'm/config.yaml': ONNX_CONFIG, 'm/1/model.onnx': FAKE_ONNX, 'm/2/': '' },
      want: ['m/2/model.onnx: found no such file; expected the ONNX model of version 2'],
    },
    {
      name: 'model.onnx is a directory',
      tree: { 'm/config.yaml': ONNX_CONFIG, 'm/1/model.onnx/': '' },
      want: ['m/1/model.onnx: found no such file; expected the ONNX model of version 1'],
    },
    {
      name: 'listed version absent',
      tree: { 'm/config.yaml': `${ONNX_CONFIG}versions: [1, 4]\n`, 'm/1/model.onnx': FAKE_ONNX },
      want: ['m/config.yaml: versions: found version 4, which has no directory <repo>/m/4; expected versions found on disk (1)'],
    },
    {
      name: 'workflow lists a version it lacks',
      tree: { 'w/config.yaml': `${WORKFLOW_CONFIG.replace('platform', 'name: w\nplatform')}versions: [2]\n` },
      want: ['w/config.yaml: versions: found version 2, which has no directory <repo>/w/2; expected versions found on disk (1)'],
    },
    {
      name: 'ambiguous version dir',
      tree: { 'm/config.yaml': ONNX_CONFIG, 'm/1/model.onnx': FAKE_ONNX, 'm/01/': '' },
      want: ["m/01: found version directory '01'; expected version directories named by positive integers without leading zeros"],
    },
    {
      name: 'config.yml',
      tree: { 'm/config.yml': ONNX_CONFIG, 'm/1/model.onnx': FAKE_ONNX },
      want: ['m/config.yml: found config.yml; expected the file to be named config.yaml'],
    },
    {
      name: 'bad config keeps its line',
      tree: { 'm/config.yaml': `${ONNX_CONFIG}instances: 0\n`, 'm/1/model.onnx': FAKE_ONNX },
      want: ['m/config.yaml:4: instances: found 0; expected an integer >= 1'],
    },
  ];
  cases[0].want = ['found no models; expected at least one model directory holding config.yaml, e.g. <repo>/<model>/config.yaml'];
  for (const c of cases) {
    const got = await scanIssues(c.tree);
    // The repository-level issue names the repo itself, whose relative path is empty.
    assert.deepEqual(
      got.map((s) => s.replace(/^: /, '')),
      c.want,
      c.name,
    );
  }
});

test('problems in several models are all listed in one ConfigError', async () => {
  const got = await scanIssues({
    'a/config.yaml': 'inputs: 3\n',
    'b/config.yaml': ONNX_CONFIG,
    'c/config.yaml': ONNX_CONFIG,
    'c/1/model.onnx': FAKE_ONNX,
    'd/config.yaml': 'x: [\n',
  });
  assert.equal(got.length, 4, got.join('\n'));
  assert.match(got[0], /^a\/config\.yaml:1: outputs: found no value \(field missing\)/);
  assert.match(got[1], /^a\/config\.yaml:1: inputs: found 3/);
  assert.match(got[2], /^b: found no version directories/);
  assert.match(got[3], /^d\/config\.yaml:2: found invalid YAML/);
});

test('a missing repository directory is a ConfigError naming it', async () => {
  await assert.rejects(scanRepository('/nonexistent/infergate-models'), (err: unknown) => {
    assert.ok(err instanceof ConfigError);
    assert.match(err.message, /\/nonexistent\/infergate-models: found no readable directory; expected a model repository directory/);
    return true;
  });
});

test('compareVersions orders numerically beyond 2^53', () => {
  const sorted = ['10', '9', '1', '90071992547409930', '90071992547409921'].sort(compareVersions);
  assert.deepEqual(sorted, ['1', '9', '10', '90071992547409921', '90071992547409930']);
});
