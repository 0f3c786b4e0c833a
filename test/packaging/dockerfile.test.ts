// The Dockerfile and .dockerignore, parsed (test/helpers/packaging.ts) and
// their promises checked against the repository after `npm run build`:
// sources in the context, stage outputs where COPY --from expects them, a
// non-root USER, the entrypoint's --help. The runtime stage replayed and
// run: image-install.test.ts; the Kubernetes manifests: kubernetes.test.ts.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { ROOT, read, copyOf, ops, parseDockerfile, run, stageFileSystems, repositoryImage } from '../helpers/packaging';

const { dockerfile, stages, runtime, ignored, context, lastOf, entrypoint, WORKDIR, entryArgv } = repositoryImage();

test('the Dockerfile: a build stage, a runtime stage with a non-root USER and the package bin as ENTRYPOINT', () => {
  const build = stages.find((s) => ops(s, 'RUN').some((r) => r.rest.includes('npm run build')));
  assert.ok(build && build !== runtime, 'a stage other than the runtime runs npm run build');
  assert.ok(
    ops(build, 'RUN').some((r) => /^npm ci\b/.test(r.rest) && !r.rest.includes('--omit=dev')),
    'the build installs dev dependencies',
  );
  assert.ok(
    ops(runtime, 'RUN').some((r) => /^npm ci\b.*--omit=dev/.test(r.rest)),
    'the runtime installs production dependencies only',
  );
  const user = lastOf('USER').rest.split(':')[0];
  assert.ok(user !== '' && user !== 'root' && user !== '0', `USER ${user} is not root`);
  const pkg = JSON.parse(read('package.json')) as { bin: Record<string, string>; scripts: Record<string, string> };
  assert.equal(entrypoint[0], 'node');
  assert.equal(path.posix.relative(WORKDIR, entrypoint[1]), pkg.bin.infergate, 'ENTRYPOINT runs the package\'s "bin"');
  // RUN_OUTPUTS (helpers/packaging.ts) follows the build script; fail here if the script changes under it.
  for (const step of ['gen:proto', 'tsc', 'gen-models']) assert.ok(pkg.scripts.build.includes(step), `npm run build runs ${step}`);
  // The CUDA flavor must resolve to a stage that creates the same user the runtime runs as.
  const cuda = parseDockerfile(dockerfile, { FLAVOR: 'cuda' });
  const cudaBase = cuda.find((s) => s.name === cuda[cuda.length - 1].base);
  assert.ok(cudaBase, `FLAVOR=cuda: the runtime's base ${cuda[cuda.length - 1].base} is a stage`);
  assert.ok(
    ops(cudaBase, 'RUN').some((r) => r.rest.includes(`--uid ${user}`)),
    `the CUDA base creates uid ${user}`,
  );
  assert.ok(
    ops(runtime, 'RUN').some((r) => r.rest.includes('ONNXRUNTIME_NODE_INSTALL=cuda12')),
    'the CUDA flavor fetches the GPU providers',
  );
});

test('the build context: COPY sources exist and are not excluded, nor is anything the build reads; bulky outputs are', () => {
  for (const stage of stages) {
    for (const c of ops(stage, 'COPY')
      .map(copyOf)
      .filter((x) => x.from === undefined)) {
      for (const s of c.sources) {
        assert.ok(fs.existsSync(path.join(ROOT, s)), `Dockerfile:${c.line}: ${s} exists`);
        if (s !== '.') assert.ok(!ignored(path.posix.normalize(s)), `Dockerfile:${c.line}: .dockerignore excludes ${s}`);
      }
    }
  }
  // Build inputs (sources, tracked or new): TypeScript under tsconfig's dirs, all of proto/, scripts/ and
  // models/ (gen-models and the image read them), and the root files npm and tsc read.
  const tsconfig = JSON.parse(read('tsconfig.json')) as { include: string[]; compilerOptions: { outDir: string } };
  const whole = ['proto/', 'scripts/', 'models/', 'package.json', 'package-lock.json', '.npmrc', 'tsconfig.json'];
  const isInput = (f: string): boolean =>
    whole.some((i) => f === i || f.startsWith(i)) || (/\.[mc]?tsx?$/.test(f) && tsconfig.include.some((d) => f.startsWith(`${d}/`)));
  const tracked = run(['git', 'ls-files', '--cached', '--others', '--exclude-standard'], { cwd: ROOT, timeoutMs: 30_000 });
  assert.equal(tracked.code, 0, tracked.out);
  const needed = tracked.out.split('\n').filter((f) => f && fs.existsSync(path.join(ROOT, f)) && isInput(f));
  assert.ok(needed.length > 50, `found the build's inputs (${needed.length})`);
  assert.deepEqual(needed.filter(ignored), [], ".dockerignore excludes none of the build's inputs");
  for (const out of ['node_modules', 'sidecar/node_modules', tsconfig.compilerOptions.outDir, '.git', 'bench/results', 'x.cpuprofile']) {
    assert.ok(ignored(out), `.dockerignore excludes ${out}`);
  }
});

test('every COPY --from=<stage> source is produced by that stage', () => {
  // stageFileSystems asserts each COPY's source; the runtime must then hold what it runs.
  const runtimeFs = stageFileSystems(stages, context).get(runtime.name)!;
  for (const f of [
    entrypoint[1],
    `${WORKDIR}/proto/inference.proto`,
    `${WORKDIR}/models/ranker/1/model.onnx`,
    `${WORKDIR}/node_modules/.package-lock.json`,
  ]) {
    assert.ok(runtimeFs.has(f), `the runtime image holds ${f}`);
  }
  assert.ok(![...runtimeFs.keys()].some((f) => f.startsWith(`${WORKDIR}/proto/gen/`)), 'no generated TypeScript');
  const cudaRuntime = stageFileSystems(parseDockerfile(dockerfile, { FLAVOR: 'cuda' }), context).get(runtime.name)!;
  assert.ok(cudaRuntime.has('/usr/local/bin/node'), 'the CUDA runtime has node');
});

test('the ENTRYPOINT answers --help, and so does each of its subcommands', () => {
  const top = run([...entryArgv(ROOT), '--help'], { timeoutMs: 30_000 });
  assert.equal(top.code, 0, top.out);
  const commands = [...top.out.split('Commands:')[1].matchAll(/^ {2}(\S+) /gm)].map((m) => m[1]);
  assert.ok(commands.includes('sidecar') && commands.includes('balancer') && commands.includes('discovery'), top.out);
  for (const c of commands) {
    const r = run([...entryArgv(ROOT), c, '--help'], { timeoutMs: 30_000 });
    assert.equal(r.code, 0, `${c} --help: ${r.out}`);
    assert.match(r.out, new RegExp(`^Usage: infergate ${c} `), `${c} --help`);
  }
});
