// Packaging without a Docker engine: the Dockerfile and .dockerignore are
// parsed and their promises checked against the repository after
// `npm run build` (sources in the context, stage outputs where COPY --from
// expects them, a non-root USER, the entrypoint's --help); the runtime stage
// is replayed in a temp dir (its COPYs, its own `npm ci` line) and that
// production-only install runs discovery, a sidecar and a balancer that the
// image's HEALTHCHECK command finds healthy; the Kubernetes manifests parse,
// kustomization lists each of them, and their ports, probes, addresses and
// grace periods agree with the flags the containers are given.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { parseAllDocuments } from 'yaml';
import { freePort } from '../../testkit/processes';
import { sidecarSpec } from '../../cli/sidecar-command';
import { balancerSpec } from '../../cli/balancer-command';
import { discoverySpec } from '../../cli/discovery-command';
import { parseRoutingConfig } from '../../routing-config/parse';

const ROOT = path.resolve(__dirname, '../../..');
const read = (rel: string): string => fs.readFileSync(path.join(ROOT, rel), 'utf8');

/** Health routes per component and port flag; the install test below checks each answers 200 on a live process. */
const HEALTH_ROUTES: Record<string, Record<string, string[]>> = {
  sidecar: { 'http-port': ['/v2/health/live', '/v2/health/ready'], 'metrics-port': ['/healthz'] },
  balancer: { 'http-port': ['/v2/health/live', '/v2/health/ready'], 'metrics-port': ['/healthz', '/readyz'] },
  discovery: { 'http-port': ['/healthz'] },
};
const SPECS: Record<string, { flags: Record<string, { name: string; default: unknown }> }> = { sidecar: sidecarSpec, balancer: balancerSpec, discovery: discoverySpec };

// ---- Dockerfile -----------------------------------------------------------

interface Instruction { readonly line: number; readonly op: string; readonly rest: string }
interface Stage { readonly name: string; readonly base: string; readonly body: Instruction[] }

/** Instructions with line continuations joined; comment and blank lines dropped (also inside continuations, as Docker does). */
function instructions(text: string): Instruction[] {
  const out: Instruction[] = [];
  let buf = '';
  let start = 0;
  text.split('\n').forEach((raw, i) => {
    if (/^\s*#/.test(raw) || raw.trim() === '') return;
    if (buf === '') start = i + 1;
    const cont = /\\\s*$/.exec(raw);
    buf += cont ? raw.slice(0, cont.index) : raw;
    if (cont) return;
    const m = /^\s*(\S+)\s*([\s\S]*)$/.exec(buf)!;
    out.push({ line: start, op: m[1].toUpperCase(), rest: m[2].trim() });
    buf = '';
  });
  assert.equal(buf, '', 'the Dockerfile ends inside a line continuation');
  return out;
}

const subst = (s: string, vars: Map<string, string>): string =>
  s.replace(/\$\{(\w+)\}|\$(\w+)/g, (_, a: string | undefined, b: string | undefined) => vars.get((a ?? b)!) ?? '');

/** Stages with FROM resolved against the global ARG defaults (overridable, like --build-arg). */
function parseDockerfile(text: string, buildArgs: Record<string, string> = {}): Stage[] {
  const known = ['FROM', 'ARG', 'ENV', 'WORKDIR', 'COPY', 'RUN', 'USER', 'EXPOSE', 'HEALTHCHECK', 'ENTRYPOINT', 'CMD'];
  const globals = new Map<string, string>();
  const stages: Stage[] = [];
  for (const ins of instructions(text)) {
    assert.ok(known.includes(ins.op), `Dockerfile:${ins.line}: ${ins.op} is not an instruction this test understands`);
    if (ins.op === 'ARG' && stages.length === 0) {
      const [k, v = ''] = ins.rest.split(/=(.*)/s);
      globals.set(k, buildArgs[k] ?? v.replace(/^"(.*)"$/, '$1'));
    } else if (ins.op === 'FROM') {
      const m = /^(?:--\S+\s+)*(\S+)(?:\s+AS\s+(\S+))?$/i.exec(ins.rest);
      assert.ok(m, `Dockerfile:${ins.line}: FROM ${ins.rest}`);
      stages.push({ base: subst(m[1], globals), name: m[2] ?? String(stages.length), body: [] });
    } else {
      assert.ok(stages.length > 0, `Dockerfile:${ins.line}: ${ins.op} before FROM`);
      stages[stages.length - 1].body.push(ins);
    }
  }
  return stages;
}

/** Exec form (JSON) as is; shell form through /bin/sh -c, as Docker runs it. */
const commandOf = (s: string): string[] => (s.startsWith('[') ? (JSON.parse(s) as string[]) : ['/bin/sh', '-c', s]);

interface Copy { readonly line: number; readonly from?: string; readonly sources: string[]; readonly dest: string }

function copyOf(ins: Instruction): Copy {
  let rest = ins.rest;
  let from: string | undefined;
  for (let m; (m = /^--(\w+)(?:=(\S+))?\s+/.exec(rest)); rest = rest.slice(m[0].length)) if (m[1] === 'from') from = m[2];
  const words = rest.startsWith('[') ? (JSON.parse(rest) as string[]) : rest.split(/\s+/);
  return { line: ins.line, from, sources: words.slice(0, -1), dest: words[words.length - 1] };
}

const ops = (stage: Stage, op: string): Instruction[] => stage.body.filter((i) => i.op === op);
const workdirAt = (stage: Stage, ins: Instruction): string => {
  let wd = '/';
  for (const i of stage.body) {
    if (i === ins) break;
    if (i.op === 'WORKDIR') wd = path.posix.resolve(wd, i.rest);
  }
  return wd;
};

// ---- .dockerignore: Docker's rules (anchored at the root, ** any depth, last match wins, ! re-includes) ----

function ignoreMatcher(text: string): (rel: string) => boolean {
  const rules = text.split('\n').map((l) => l.trim()).filter((l) => l && !l.startsWith('#')).map((l) => {
    const negate = l.startsWith('!');
    const pat = path.posix.normalize((negate ? l.slice(1) : l).replace(/^\/+/, ''));
    const re = pat.split(/(\*\*\/?|\*|\?)/).map((p) => (p.startsWith('**') ? '(?:.*/)?' + (p === '**' ? '.*' : '') : p === '*' ? '[^/]*'
      : p === '?' ? '[^/]' : p.replace(/[.+^${}()|[\]\\]/g, '\\$&'))).join('');
    return { negate, re: new RegExp(`^${re}$`) };
  });
  return (rel) => {
    // A path is excluded when it or any parent directory matches.
    const prefixes = rel.split('/').map((_, i, a) => a.slice(0, i + 1).join('/'));
    let excluded = false;
    for (const r of rules) if (prefixes.some((p) => r.re.test(p))) excluded = !r.negate;
    return excluded;
  };
}

/** Every file in the working tree, relative and POSIX, skipping node_modules and .git (asserted excluded separately). */
function repoFiles(dir = ROOT, rel = ''): string[] {
  return fs.readdirSync(dir, { withFileTypes: true }).flatMap((e) => {
    const r = rel ? `${rel}/${e.name}` : e.name;
    if (e.name === 'node_modules' || r === '.git') return [];
    return e.isDirectory() ? repoFiles(path.join(dir, e.name), r) : [r];
  });
}

// ---- stage file systems: which files each stage holds, and where they come from in this repository ----

/** Files a stage's base image provides, for the official node image only. */
const IMAGE_FILES: Record<string, string[]> = { 'node:': ['/usr/local/bin/node', '/usr/local/lib/node_modules/npm/package.json'] };
/** What the build stage's RUN commands leave behind, as repo-relative globs that exist after `npm run build`. */
const RUN_OUTPUTS: Record<string, string[]> = { 'npm run build': ['dist/**', 'proto/gen/**', 'models/*/*/model.onnx'] };
/** Origin of an image file: a repo-relative path, or null when it exists only in an image (base image, node_modules). */
type StageFs = Map<string, string | null>;

const globRe = (g: string): RegExp => new RegExp(`^${g.split(/(\*\*|\*)/).map((p) => (p === '**' ? '.*' : p === '*' ? '[^/]*'
  : p.replace(/[.+^${}()|[\]\\]/g, '\\$&'))).join('')}$`);

/** Applies COPY semantics: a directory's contents, a file (into dest/ when dest is a directory), or a glob's files. */
function copyInto(target: StageFs, src: StageFs, pattern: string, dest: string, destIsDir: boolean, where: string): void {
  const re = globRe(pattern);
  let n = 0;
  for (const [file, origin] of src) {
    let to: string | undefined;
    if (file === pattern || (/[*?]/.test(pattern) && re.test(file))) to = destIsDir ? path.posix.join(dest, path.posix.basename(file)) : dest;
    else if (file.startsWith(pattern.replace(/\/?$/, '/'))) to = path.posix.join(dest, file.slice(pattern.replace(/\/?$/, '/').length));
    if (to !== undefined) {
      target.set(to, origin);
      n++;
    }
  }
  assert.ok(n > 0, `${where}: COPY ${pattern}: the source holds no such file`);
}

/** Builds every stage's file system from the build context (the repo minus .dockerignore) and the outputs above. */
function stageFileSystems(stages: Stage[], context: string[]): Map<string, StageFs> {
  const ctx: StageFs = new Map(context.map((f) => [`/${f}`, f]));
  const all = repoFiles();
  const byName = new Map<string, StageFs>();
  for (const stage of stages) {
    const sfs: StageFs = new Map(byName.get(stage.base) ?? []);
    for (const [prefix, files] of Object.entries(IMAGE_FILES)) if (stage.base.startsWith(prefix)) for (const f of files) sfs.set(f, null);
    for (const ins of stage.body) {
      const wd = workdirAt(stage, ins);
      if (ins.op === 'COPY') {
        const c = copyOf(ins);
        const src = c.from === undefined ? ctx : byName.get(c.from);
        assert.ok(src, `Dockerfile:${c.line}: COPY --from=${c.from} names no earlier stage`);
        const dest = path.posix.resolve(wd, c.dest);
        const destIsDir = c.dest.endsWith('/') || c.dest === '.' || c.sources.length > 1;
        for (const s of c.sources) copyInto(sfs, src, c.from === undefined ? path.posix.resolve('/', s) : s, dest, destIsDir, `Dockerfile:${c.line}`);
      } else if (ins.op === 'RUN') {
        if (/\bnpm ci\b/.test(ins.rest)) sfs.set(path.posix.join(wd, 'node_modules/.package-lock.json'), null);
        for (const [cmd, globs] of Object.entries(RUN_OUTPUTS)) {
          if (!ins.rest.includes(cmd)) continue;
          for (const g of globs) for (const f of all.filter((x) => globRe(g).test(x))) sfs.set(path.posix.join(wd, f), f);
        }
      }
    }
    byName.set(stage.name, sfs);
  }
  return byName;
}

const dockerfile = read('Dockerfile');
const stages = parseDockerfile(dockerfile);
const runtime = stages[stages.length - 1];
const ignored = ignoreMatcher(read('.dockerignore'));
const context = repoFiles().filter((f) => !ignored(f));
const lastOf = (op: string): Instruction => {
  const all = ops(runtime, op);
  assert.ok(all.length > 0, `the runtime stage has no ${op}`);
  return all[all.length - 1];
};
const entrypoint = commandOf(lastOf('ENTRYPOINT').rest);
const WORKDIR = workdirAt(runtime, lastOf('ENTRYPOINT'));
/** An image path of the runtime stage, laid out under dir (the repo, or the replayed install). */
const inDir = (dir: string, p: string): string => (p.startsWith(`${WORKDIR}/`) ? path.join(dir, p.slice(WORKDIR.length + 1)) : p);
const entryArgv = (dir: string): string[] => entrypoint.map((a, i) => (i === 0 && a === 'node' ? process.execPath : inDir(dir, a)));

function run(argv: string[], opts: { cwd?: string; env?: NodeJS.ProcessEnv; timeoutMs: number }): { code: number | null; out: string } {
  const r = spawnSync(argv[0], argv.slice(1), { cwd: opts.cwd, env: opts.env, encoding: 'utf8', timeout: opts.timeoutMs });
  return { code: r.status, out: `${r.stdout ?? ''}${r.stderr ?? ''}${r.error ? String(r.error) : ''}` };
}

test('the Dockerfile: a build stage, a runtime stage with a non-root USER and the package bin as ENTRYPOINT', () => {
  const build = stages.find((s) => ops(s, 'RUN').some((r) => r.rest.includes('npm run build')));
  assert.ok(build && build !== runtime, 'a stage other than the runtime runs npm run build');
  assert.ok(ops(build, 'RUN').some((r) => /^npm ci\b/.test(r.rest) && !r.rest.includes('--omit=dev')), 'the build installs dev dependencies');
  assert.ok(ops(runtime, 'RUN').some((r) => /^npm ci\b.*--omit=dev/.test(r.rest)), 'the runtime installs production dependencies only');
  const user = lastOf('USER').rest.split(':')[0];
  assert.ok(user !== '' && user !== 'root' && user !== '0', `USER ${user} is not root`);
  const pkg = JSON.parse(read('package.json')) as { bin: Record<string, string>; scripts: Record<string, string> };
  assert.equal(entrypoint[0], 'node');
  assert.equal(path.posix.relative(WORKDIR, entrypoint[1]), pkg.bin.infergate, 'ENTRYPOINT runs the package\'s "bin"');
  // RUN_OUTPUTS above follows the build script; fail here if the script changes under it.
  for (const step of ['gen:proto', 'tsc', 'gen-models']) assert.ok(pkg.scripts.build.includes(step), `npm run build runs ${step}`);
  // The CUDA flavor must resolve to a stage that creates the same user the runtime runs as.
  const cuda = parseDockerfile(dockerfile, { FLAVOR: 'cuda' });
  const cudaBase = cuda.find((s) => s.name === cuda[cuda.length - 1].base);
  assert.ok(cudaBase, `FLAVOR=cuda: the runtime's base ${cuda[cuda.length - 1].base} is a stage`);
  assert.ok(ops(cudaBase, 'RUN').some((r) => r.rest.includes(`--uid ${user}`)), `the CUDA base creates uid ${user}`);
  assert.ok(ops(runtime, 'RUN').some((r) => r.rest.includes('ONNXRUNTIME_NODE_INSTALL=cuda12')), 'the CUDA flavor fetches the GPU providers');
});

test('the build context: COPY sources exist and are not excluded, nor is anything the build reads; bulky outputs are', () => {
  for (const stage of stages) {
    for (const c of ops(stage, 'COPY').map(copyOf).filter((x) => x.from === undefined)) {
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
  const isInput = (f: string): boolean => whole.some((i) => f === i || f.startsWith(i)) ||
    (/\.[mc]?tsx?$/.test(f) && tsconfig.include.some((d) => f.startsWith(`${d}/`)));
  const tracked = run(['git', 'ls-files', '--cached', '--others', '--exclude-standard'], { cwd: ROOT, timeoutMs: 30_000 });
  assert.equal(tracked.code, 0, tracked.out);
  const needed = tracked.out.split('\n').filter((f) => f && fs.existsSync(path.join(ROOT, f)) && isInput(f));
  assert.ok(needed.length > 50, `found the build's inputs (${needed.length})`);
  assert.deepEqual(needed.filter(ignored), [], '.dockerignore excludes none of the build\'s inputs');
  for (const out of ['node_modules', 'sidecar/node_modules', tsconfig.compilerOptions.outDir, '.git', 'bench/results', 'x.cpuprofile']) {
    assert.ok(ignored(out), `.dockerignore excludes ${out}`);
  }
});

test('every COPY --from=<stage> source is produced by that stage', () => {
  // stageFileSystems asserts each COPY's source; the runtime must then hold what it runs.
  const runtimeFs = stageFileSystems(stages, context).get(runtime.name)!;
  for (const f of [entrypoint[1], `${WORKDIR}/proto/inference.proto`, `${WORKDIR}/models/ranker/1/model.onnx`, `${WORKDIR}/node_modules/.package-lock.json`]) {
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

function stopped(child: ChildProcess, graceMs = 20_000): Promise<number | null> {
  return new Promise((resolve) => {
    if (child.exitCode !== null || child.signalCode !== null) return resolve(child.exitCode);
    const kill = setTimeout(() => child.kill('SIGKILL'), graceMs);
    child.once('exit', (code) => {
      clearTimeout(kill);
      resolve(code);
    });
    child.kill('SIGTERM');
  });
}

async function httpStatus(url: string): Promise<number> {
  try {
    return (await fetch(url, { signal: AbortSignal.timeout(2000) })).status;
  } catch {
    return 0;
  }
}

async function until(what: string, cond: () => Promise<boolean>, child: ChildProcess, timeoutMs = 60_000): Promise<void> {
  for (const end = Date.now() + timeoutMs; Date.now() < end;) {
    assert.equal(child.exitCode, null, `the process exited before ${what}`);
    if (await cond()) return;
    await new Promise((r) => setTimeout(r, 200));
  }
  assert.fail(`no ${what} after ${timeoutMs} ms`);
}

test('a production-only install laid out as the runtime stage runs discovery, a sidecar and a balancer the HEALTHCHECK passes', { timeout: 300_000 }, async () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'infergate-image-'));
  const children: ChildProcess[] = [];
  try {
    // The runtime stage's files, copied from where the stages took them in this repo.
    for (const [file, origin] of stageFileSystems(stages, context).get(runtime.name)!) {
      if (origin === null || !file.startsWith(`${WORKDIR}/`)) continue;
      fs.mkdirSync(path.dirname(inDir(dir, file)), { recursive: true });
      fs.copyFileSync(path.join(ROOT, origin), inDir(dir, file));
    }
    // The runtime stage's own npm install line (not the cache clean after it: that would empty this machine's npm cache).
    const npm = ops(runtime, 'RUN').flatMap((r) => r.rest.split('&&').map((s) => s.trim())).filter((s) => /^npm ci\b/.test(s));
    assert.equal(npm.length, 1, 'one npm ci in the runtime stage');
    // Without the npm_* variables `npm test` exports: npm_config_local_prefix would point this npm ci at the repo itself.
    const env = Object.fromEntries(Object.entries(process.env).filter(([k]) => !/^npm_/i.test(k) && k !== 'INIT_CWD'));
    const install = run(['/bin/sh', '-c', npm[0]], { cwd: dir, env: { ...env, NODE_ENV: 'production' }, timeoutMs: 240_000 });
    assert.equal(install.code, 0, install.out);
    assert.ok(!fs.existsSync(path.join(dir, 'node_modules/typescript')), 'no dev dependencies');
    assert.ok(!fs.existsSync(path.join(dir, 'node_modules/onnxruntime-node/bin/napi-v6/linux/x64/libonnxruntime_providers_cuda.so')), 'no GPU download');
    assert.ok(fs.existsSync(path.join(dir, 'node_modules/onnxruntime-node/script/install.js')), 'the CUDA flavor\'s install script is there');

    const [dg, dh, sg, sh, sm, bg, bh, bm] = await Promise.all(Array.from({ length: 8 }, () => freePort()));
    const start = (args: (string | number)[]): ChildProcess => {
      const child = spawn(entryArgv(dir)[0], [...entryArgv(dir).slice(1), ...args.map(String)], { cwd: dir, stdio: ['ignore', 'ignore', 'inherit'] });
      children.push(child);
      return child;
    };
    const healthcheck = commandOf(lastOf('HEALTHCHECK').rest.replace(/^(?:--\S+\s+)*CMD\s+/, ''));
    const healthy = (child: ChildProcess) => async () =>
      run(healthcheck, { env: { ...process.env, HEALTHCHECK_PID: String(child.pid) }, timeoutMs: 10_000 }).code === 0;

    const discovery = start(['discovery', '--grpc-port', dg, '--http-port', dh, '--host', '127.0.0.1']);
    await until('healthy discovery', healthy(discovery), discovery);
    const sidecar = start(['sidecar', '--models', 'models', '--grpc-port', sg, '--http-port', sh, '--metrics-port', sm, '--host', '127.0.0.1',
      '--discovery', `127.0.0.1:${dg}`, '--advertise', `127.0.0.1:${sg}`]);
    await until('/v2/health/ready 200', async () => (await httpStatus(`http://127.0.0.1:${sh}/v2/health/ready`)) === 200, sidecar);
    await until('a healthy sidecar', healthy(sidecar), sidecar);
    const balancer = start(['balancer', '--discovery', `127.0.0.1:${dg}`, '--grpc-port', bg, '--http-port', bh, '--metrics-port', bm, '--host', '127.0.0.1']);
    await until('a healthy balancer', healthy(balancer), balancer);
    assert.equal(await httpStatus(`http://127.0.0.1:${bh}/v2/models/ranker/ready`), 200, 'the balancer reaches the sidecar');

    // Every health route the manifests' probes may use answers 200 on the live components.
    const portsOf: Record<string, Record<string, number>> = {
      sidecar: { 'http-port': sh, 'metrics-port': sm }, balancer: { 'http-port': bh, 'metrics-port': bm }, discovery: { 'http-port': dh },
    };
    for (const [cmd, routes] of Object.entries(HEALTH_ROUTES)) {
      for (const [flag, paths] of Object.entries(routes)) {
        for (const p of paths) assert.equal(await httpStatus(`http://127.0.0.1:${portsOf[cmd][flag]}${p}`), 200, `${cmd} ${p} on --${flag}`);
      }
    }
    for (const [name, child] of [['balancer', balancer], ['sidecar', sidecar], ['discovery', discovery]] as const) {
      assert.equal(await stopped(child), 0, `${name} exits 0 on SIGTERM`);
    }
    // And it fails when the component's port does not answer: a stand-in process with a sidecar's command line.
    const closed = await freePort();
    const fake = spawn(process.execPath, ['-e', 'setInterval(() => {}, 1000)', 'dist/cli/main.js', 'sidecar', `--http-port=${closed}`], { stdio: 'ignore' });
    children.push(fake);
    await new Promise((r) => setTimeout(r, 300));
    assert.equal(await healthy(fake)(), false, 'the HEALTHCHECK fails when /v2/health/ready does not answer');
  } finally {
    await Promise.all(children.map((c) => stopped(c, 5000)));
    fs.rmSync(dir, { recursive: true, force: true });
  }
});

// ---- Kubernetes manifests -------------------------------------------------

interface Probe { readonly httpGet?: { readonly path: string; readonly port: number | string } }
interface Container {
  readonly name: string; readonly image: string; readonly args?: string[];
  readonly env?: Array<{ name: string; value?: string; valueFrom?: { fieldRef?: { fieldPath: string } } }>;
  readonly ports?: Array<{ name?: string; containerPort: number }>;
  readonly livenessProbe?: Probe; readonly readinessProbe?: Probe; readonly startupProbe?: Probe;
  readonly lifecycle?: { preStop?: { exec?: { command: string[] }; sleep?: { seconds: number } } };
  readonly resources?: { limits?: Record<string, string | number> };
  readonly volumeMounts?: Array<{ name: string; mountPath: string; subPath?: string }>;
}
interface PodSpec {
  readonly containers: Container[]; readonly terminationGracePeriodSeconds?: number;
  readonly volumes?: Array<{ name: string; configMap?: { name: string } }>; readonly securityContext?: { runAsNonRoot?: boolean };
}
interface K8sObject {
  readonly file: string; readonly kind: string; readonly metadata: { name: string };
  readonly data?: Record<string, string>;
  readonly spec?: {
    replicas?: number; serviceName?: string; selector?: Record<string, unknown>; minReplicas?: number; maxReplicas?: number;
    template?: { metadata: { labels: Record<string, string> }; spec: PodSpec };
    ports?: Array<{ name?: string; port: number; targetPort?: number | string }>;
    scaleTargetRef?: { kind: string; name: string };
  };
}

const K8S = path.join(ROOT, 'deploy/kubernetes');
const manifestFiles = fs.readdirSync(K8S).filter((f) => /\.ya?ml$/.test(f)).sort();
const objects: K8sObject[] = manifestFiles.flatMap((file) => parseAllDocuments(fs.readFileSync(path.join(K8S, file), 'utf8')).map((d) => {
  assert.deepEqual(d.errors.map(String), [], `${file} parses`);
  return { ...(d.toJS() as Omit<K8sObject, 'file'>), file };
}));
const byKind = (kind: string): K8sObject[] => objects.filter((o) => o.kind === kind);
const workloads = objects.filter((o) => o.spec?.template);
const kustomization = objects.find((o) => o.file === 'kustomization.yaml') as unknown as { resources: string[]; images: Array<{ name: string }> };

const portOf = (c: Container, p: number | string): number | undefined =>
  typeof p === 'number' ? p : c.ports?.find((x) => x.name === p)?.containerPort;

/** The containers (and their ports) a Service's port sends to. */
function serviceTargets(svc: K8sObject, port: number): Array<{ pod: K8sObject; container: Container; containerPort: number }> {
  const sp = svc.spec!.ports!.find((p) => p.port === port);
  assert.ok(sp, `Service ${svc.metadata.name} has port ${port}`);
  const selector = svc.spec!.selector as Record<string, string>;
  const pods = workloads.filter((w) => Object.entries(selector).every(([k, v]) => w.spec!.template!.metadata.labels[k] === v));
  return pods.flatMap((pod) => pod.spec!.template!.spec.containers.flatMap((container) => {
    const containerPort = portOf(container, sp.targetPort ?? sp.port);
    return containerPort !== undefined && container.ports?.some((x) => x.containerPort === containerPort) ? [{ pod, container, containerPort }] : [];
  }));
}

/** --name=value and --name value pairs of a container's args after the subcommand. */
function flagsOf(args: string[]): Map<string, string> {
  const out = new Map<string, string>();
  for (let i = 0; i < args.length; i++) {
    const m = /^--([\w-]+)(?:=(.*))?$/s.exec(args[i]);
    assert.ok(m, `'${args[i]}' is a --flag`);
    out.set(m[1], m[2] ?? args[++i]);
  }
  return out;
}

test('the Kubernetes manifests parse and kustomization.yaml lists every one of them', () => {
  assert.deepEqual([...kustomization.resources].sort(), manifestFiles.filter((f) => f !== 'kustomization.yaml'));
  const images = new Set(workloads.flatMap((w) => w.spec!.template!.spec.containers.map((c) => c.image.split(':')[0])));
  for (const i of kustomization.images) assert.ok(images.has(i.name), `kustomization's image ${i.name} is used`);
  for (const hpa of byKind('HorizontalPodAutoscaler')) {
    const target = objects.find((o) => o.kind === hpa.spec!.scaleTargetRef!.kind && o.metadata.name === hpa.spec!.scaleTargetRef!.name);
    assert.ok(target, `HPA ${hpa.metadata.name} scales an object defined here`);
    assert.equal(target.spec!.replicas, undefined, `${target.metadata.name} leaves replicas to the HPA`);
    assert.ok(hpa.spec!.minReplicas! <= hpa.spec!.maxReplicas!);
  }
  for (const svc of byKind('Service')) {
    for (const p of svc.spec!.ports!) assert.ok(serviceTargets(svc, p.port).length > 0, `Service ${svc.metadata.name}:${p.port} reaches a container port`);
  }
});

test('infergate containers: ports, probes and addresses follow their flags; grace periods exceed the drain', () => {
  const infergate = kustomization.images.map((i) => i.name);
  let seen = 0;
  for (const w of workloads) {
    const pod = w.spec!.template!.spec;
    for (const c of pod.containers.filter((x) => infergate.includes(x.image.split(':')[0]))) {
      const where = `${w.file} ${w.metadata.name}/${c.name}`;
      const [cmd, ...rest] = c.args ?? [];
      const spec = SPECS[cmd];
      assert.ok(spec, `${where}: runs discovery, balancer or sidecar (${cmd})`);
      seen++;
      assert.equal(pod.securityContext?.runAsNonRoot, true, `${where}: runAsNonRoot`);
      const flags = flagsOf(rest);
      const byName = new Map(Object.values(spec.flags).map((f) => [f.name, f]));
      for (const name of flags.keys()) assert.ok(byName.has(name), `${where}: --${name} is a ${cmd} flag`);
      const value = (name: string): string => flags.get(name) ?? String(byName.get(name)!.default);
      for (const ref of rest.join(' ').matchAll(/\$\((\w+)\)/g)) assert.ok(c.env?.some((e) => e.name === ref[1]), `${where}: $(${ref[1]}) is an env var`);

      const listening = new Map([...byName.keys()].filter((n) => n.endsWith('-port')).map((n) => [Number(value(n)), n]));
      for (const p of c.ports ?? []) assert.ok(listening.has(p.containerPort), `${where}: containerPort ${p.containerPort} is one of its --*-port flags`);
      for (const p of listening.keys()) assert.ok(c.ports?.some((x) => x.containerPort === p), `${where}: port ${p} is declared`);
      assert.ok(c.readinessProbe && c.livenessProbe, `${where}: readiness and liveness probes`);
      for (const probe of [c.livenessProbe, c.readinessProbe, c.startupProbe].filter((x) => x !== undefined)) {
        assert.ok(probe.httpGet, `${where}: HTTP probes`);
        const flag = listening.get(portOf(c, probe.httpGet.port) ?? -1);
        assert.ok(flag, `${where}: probe port ${probe.httpGet.port} is a port the flags open`);
        assert.ok(HEALTH_ROUTES[cmd][flag]?.includes(probe.httpGet.path), `${where}: ${probe.httpGet.path} is a health route on --${flag}`);
      }

      if (byName.has('drain-timeout-ms')) {
        const pre = c.lifecycle?.preStop;
        const preStop = pre?.sleep?.seconds ?? (pre?.exec?.command[0] === 'sleep' ? Number(pre.exec.command[1]) : 0);
        const grace = pod.terminationGracePeriodSeconds ?? 30;
        assert.ok(grace > preStop + Number(value('drain-timeout-ms')) / 1000,
          `${where}: terminationGracePeriodSeconds ${grace} > preStop ${preStop} s + drain ${value('drain-timeout-ms')} ms`);
      }
      if (byName.has('discovery') && cmd !== 'discovery') {
        for (const addr of value('discovery').split(',')) {
          const [host, port] = addr.split(':');
          const svc = byKind('Service').find((s) => s.metadata.name === host);
          assert.ok(svc, `${where}: --discovery ${addr} names a Service`);
          const targets = serviceTargets(svc, Number(port));
          assert.ok(targets.length > 0 && targets.every((t) => t.container.args?.[0] === 'discovery' &&
            String(t.containerPort) === (flagsOf(t.container.args.slice(1)).get('grpc-port') ?? String(discoverySpec.flags.grpcPort.default))),
          `${where}: --discovery ${addr} reaches discovery's gRPC port`);
        }
      }
      for (const e of c.env ?? []) assert.ok(e.value !== undefined || e.valueFrom?.fieldRef, `${where}: env ${e.name} has a value`);
      if (cmd === 'sidecar') {
        const adv = /^\$\(POD_IP\):(\d+)$/.exec(value('advertise'));
        assert.ok(adv && adv[1] === value('grpc-port'), `${where}: --advertise is $(POD_IP):<grpc-port>`);
        assert.equal(c.env?.find((e) => e.name === 'POD_IP')?.valueFrom?.fieldRef?.fieldPath, 'status.podIP', `${where}: POD_IP from the downward API`);
        assert.ok(Number(c.resources?.limits?.['nvidia.com/gpu']) >= 1, `${where}: requests a GPU`);
        assert.ok(c.volumeMounts?.some((m) => value('models') === m.mountPath || value('models').startsWith(`${m.mountPath}/`)), `${where}: --models is mounted`);
      }
      if (cmd === 'discovery' && flags.has('config')) {
        const file = value('config');
        const mount = c.volumeMounts?.find((m) => m.mountPath === path.posix.dirname(file));
        assert.ok(mount && !mount.subPath, `${where}: --config's directory is a mount (no subPath, so ConfigMap edits arrive)`);
        const cm = byKind('ConfigMap').find((o) => o.metadata.name === pod.volumes?.find((v) => v.name === mount.name)?.configMap?.name);
        const text = cm?.data?.[path.posix.basename(file)];
        assert.ok(text, `${where}: ${file} comes from a ConfigMap here`);
        parseRoutingConfig(text, `${cm!.file}:${file}`);
      }
      if (cmd === 'discovery' && value('store') === 'etcd') {
        for (const url of value('etcd-endpoints').split(',')) {
          const u = new URL(url);
          const [member, svcName] = u.hostname.split('.');
          const svc = byKind('Service').find((s) => s.metadata.name === (svcName ?? member));
          const sts = byKind('StatefulSet').find((s) => s.spec!.serviceName === svc?.metadata.name);
          assert.ok(svc && sts, `${where}: ${url} names an etcd Service and StatefulSet`);
          if (svcName) assert.ok(Number(member.slice(sts.metadata.name.length + 1)) < sts.spec!.replicas!, `${where}: ${member} is a member`);
          assert.ok(serviceTargets(svc, Number(u.port)).length > 0, `${where}: ${url}'s port reaches etcd`);
        }
      }
    }
  }
  assert.equal(seen, 3, 'discovery, balancer and sidecar each run once');
});
