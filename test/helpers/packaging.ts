// What the packaging suites (test/packaging/) share: the repository root,
// the components' health routes, and the Dockerfile and .dockerignore read
// the way Docker reads them, down to the files each stage holds, so the
// suites check the image's promises against this repository without a
// Docker engine.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';

export const ROOT = path.resolve(__dirname, '../../..');
export const read = (rel: string): string => fs.readFileSync(path.join(ROOT, rel), 'utf8');

/** Health routes per component and port flag; image-install.test.ts checks each answers 200 on a live process. */
export const HEALTH_ROUTES: Record<string, Record<string, string[]>> = {
  sidecar: { 'http-port': ['/v2/health/live', '/v2/health/ready'], 'metrics-port': ['/healthz'] },
  balancer: { 'http-port': ['/v2/health/live', '/v2/health/ready'], 'metrics-port': ['/healthz', '/readyz'] },
  discovery: { 'http-port': ['/healthz'] },
};

// ---- Dockerfile -----------------------------------------------------------

export interface Instruction {
  readonly line: number;
  readonly op: string;
  readonly rest: string;
}
export interface Stage {
  readonly name: string;
  readonly base: string;
  readonly body: Instruction[];
}

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
export function parseDockerfile(text: string, buildArgs: Record<string, string> = {}): Stage[] {
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
export const commandOf = (s: string): string[] => (s.startsWith('[') ? (JSON.parse(s) as string[]) : ['/bin/sh', '-c', s]);

export interface Copy {
  readonly line: number;
  readonly from?: string;
  readonly sources: string[];
  readonly dest: string;
}

export function copyOf(ins: Instruction): Copy {
  let rest = ins.rest;
  let from: string | undefined;
  for (let m; (m = /^--(\w+)(?:=(\S+))?\s+/.exec(rest)); rest = rest.slice(m[0].length)) if (m[1] === 'from') from = m[2];
  const words = rest.startsWith('[') ? (JSON.parse(rest) as string[]) : rest.split(/\s+/);
  return { line: ins.line, from, sources: words.slice(0, -1), dest: words[words.length - 1] };
}

export const ops = (stage: Stage, op: string): Instruction[] => stage.body.filter((i) => i.op === op);
export const workdirAt = (stage: Stage, ins: Instruction): string => {
  let wd = '/';
  for (const i of stage.body) {
    if (i === ins) break;
    if (i.op === 'WORKDIR') wd = path.posix.resolve(wd, i.rest);
  }
  return wd;
};

// ---- .dockerignore: Docker's rules (anchored at the root, ** any depth, last match wins, ! re-includes) ----

export function ignoreMatcher(text: string): (rel: string) => boolean {
  const rules = text
    .split('\n')
    .map((l) => l.trim())
    .filter((l) => l && !l.startsWith('#'))
    .map((l) => {
      const negate = l.startsWith('!');
      const pat = path.posix.normalize((negate ? l.slice(1) : l).replace(/^\/+/, ''));
      const re = pat
        .split(/(\*\*\/?|\*|\?)/)
        .map((p) =>
          p.startsWith('**')
            ? '(?:.*/)?' + (p === '**' ? '.*' : '')
            : p === '*'
              ? '[^/]*'
              : p === '?'
                ? '[^/]'
                : p.replace(/[.+^${}()|[\]\\]/g, '\\$&'),
        )
        .join('');
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
export function repoFiles(dir = ROOT, rel = ''): string[] {
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
export const RUN_OUTPUTS: Record<string, string[]> = { 'npm run build': ['dist/**', 'proto/gen/**', 'models/*/*/model.onnx'] };
/** Origin of an image file: a repo-relative path, or null when it exists only in an image (base image, node_modules). */
export type StageFs = Map<string, string | null>;

const globRe = (g: string): RegExp =>
  new RegExp(
    `^${g
      .split(/(\*\*|\*)/)
      .map((p) => (p === '**' ? '.*' : p === '*' ? '[^/]*' : p.replace(/[.+^${}()|[\]\\]/g, '\\$&')))
      .join('')}$`,
  );

/** Applies COPY semantics: a directory's contents, a file (into dest/ when dest is a directory), or a glob's files. */
function copyInto(target: StageFs, src: StageFs, pattern: string, dest: string, destIsDir: boolean, where: string): void {
  const re = globRe(pattern);
  let n = 0;
  for (const [file, origin] of src) {
    let to: string | undefined;
    if (file === pattern || (/[*?]/.test(pattern) && re.test(file)))
      to = destIsDir ? path.posix.join(dest, path.posix.basename(file)) : dest;
    else if (file.startsWith(pattern.replace(/\/?$/, '/'))) to = path.posix.join(dest, file.slice(pattern.replace(/\/?$/, '/').length));
    if (to !== undefined) {
      target.set(to, origin);
      n++;
    }
  }
  assert.ok(n > 0, `${where}: COPY ${pattern}: the source holds no such file`);
}

/** Builds every stage's file system from the build context (the repo minus .dockerignore) and the outputs above. */
export function stageFileSystems(stages: Stage[], context: string[]): Map<string, StageFs> {
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
        for (const s of c.sources)
          copyInto(sfs, src, c.from === undefined ? path.posix.resolve('/', s) : s, dest, destIsDir, `Dockerfile:${c.line}`);
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

// ---- this repository's image ------------------------------------------------

/** This repository's Dockerfile, its build context and the runtime stage's entry point (asserts the Dockerfile parses). */
export function repositoryImage() {
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
  return { dockerfile, stages, runtime, ignored, context, lastOf, entrypoint, WORKDIR, inDir, entryArgv };
}

/** Runs a command to its end: the exit code, and stdout then stderr. */
export function run(
  argv: string[],
  opts: { cwd?: string; env?: NodeJS.ProcessEnv; timeoutMs: number },
): { code: number | null; out: string } {
  const r = spawnSync(argv[0], argv.slice(1), { cwd: opts.cwd, env: opts.env, encoding: 'utf8', timeout: opts.timeoutMs });
  return { code: r.status, out: `${r.stdout ?? ''}${r.stderr ?? ''}${r.error ? String(r.error) : ''}` };
}
