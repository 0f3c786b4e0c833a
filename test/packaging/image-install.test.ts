// The image's runtime stage replayed in a temp dir (its COPYs, its own
// `npm ci` line), and that production-only install running discovery, a
// sidecar and a balancer that the image's HEALTHCHECK command finds healthy.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { freePort } from '../../testkit/processes';
import { HEALTH_ROUTES, ROOT, commandOf, ops, run, stageFileSystems, repositoryImage } from '../helpers/packaging';

const { stages, runtime, context, lastOf, WORKDIR, inDir, entryArgv } = repositoryImage();

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

test(
  'a production-only install laid out as the runtime stage runs discovery, a sidecar and a balancer the HEALTHCHECK passes',
  { timeout: 300_000 },
  async () => {
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
      const npm = ops(runtime, 'RUN')
        .flatMap((r) => r.rest.split('&&').map((s) => s.trim()))
        .filter((s) => /^npm ci\b/.test(s));
      assert.equal(npm.length, 1, 'one npm ci in the runtime stage');
      // Without the npm_* variables `npm test` exports: npm_config_local_prefix would point this npm ci at the repo itself.
      const env = Object.fromEntries(Object.entries(process.env).filter(([k]) => !/^npm_/i.test(k) && k !== 'INIT_CWD'));
      const install = run(['/bin/sh', '-c', npm[0]], { cwd: dir, env: { ...env, NODE_ENV: 'production' }, timeoutMs: 240_000 });
      assert.equal(install.code, 0, install.out);
      assert.ok(!fs.existsSync(path.join(dir, 'node_modules/typescript')), 'no dev dependencies');
      assert.ok(
        !fs.existsSync(path.join(dir, 'node_modules/onnxruntime-node/bin/napi-v6/linux/x64/libonnxruntime_providers_cuda.so')),
        'no GPU download',
      );
      assert.ok(
        fs.existsSync(path.join(dir, 'node_modules/onnxruntime-node/script/install.js')),
        "the CUDA flavor's install script is there",
      );

      const [dg, dh, sg, sh, sm, bg, bh, bm] = await Promise.all(Array.from({ length: 8 }, () => freePort()));
      const start = (args: (string | number)[]): ChildProcess => {
        const child = spawn(entryArgv(dir)[0], [...entryArgv(dir).slice(1), ...args.map(String)], {
          cwd: dir,
          stdio: ['ignore', 'ignore', 'inherit'],
        });
        children.push(child);
        return child;
      };
      const healthcheck = commandOf(lastOf('HEALTHCHECK').rest.replace(/^(?:--\S+\s+)*CMD\s+/, ''));
      const healthy = (child: ChildProcess) => async () =>
        run(healthcheck, { env: { ...process.env, HEALTHCHECK_PID: String(child.pid) }, timeoutMs: 10_000 }).code === 0;

      const discovery = start(['discovery', '--grpc-port', dg, '--http-port', dh, '--host', '127.0.0.1']);
      await until('healthy discovery', healthy(discovery), discovery);
      const sidecar = start([
        'sidecar',
        '--models',
        'models',
        '--grpc-port',
        sg,
        '--http-port',
        sh,
        '--metrics-port',
        sm,
        '--host',
        '127.0.0.1',
        '--discovery',
        `127.0.0.1:${dg}`,
        '--advertise',
        `127.0.0.1:${sg}`,
      ]);
      await until('/v2/health/ready 200', async () => (await httpStatus(`http://127.0.0.1:${sh}/v2/health/ready`)) === 200, sidecar);
      await until('a healthy sidecar', healthy(sidecar), sidecar);
      const balancer = start([
        'balancer',
        '--discovery',
        `127.0.0.1:${dg}`,
        '--grpc-port',
        bg,
        '--http-port',
        bh,
        '--metrics-port',
        bm,
        '--host',
        '127.0.0.1',
      ]);
      await until('a healthy balancer', healthy(balancer), balancer);
      assert.equal(await httpStatus(`http://127.0.0.1:${bh}/v2/models/ranker/ready`), 200, 'the balancer reaches the sidecar');

      // Every health route the manifests' probes may use answers 200 on the live components.
      const portsOf: Record<string, Record<string, number>> = {
        sidecar: { 'http-port': sh, 'metrics-port': sm },
        balancer: { 'http-port': bh, 'metrics-port': bm },
        discovery: { 'http-port': dh },
      };
      for (const [cmd, routes] of Object.entries(HEALTH_ROUTES)) {
        for (const [flag, paths] of Object.entries(routes)) {
          for (const p of paths)
            assert.equal(await httpStatus(`http://127.0.0.1:${portsOf[cmd][flag]}${p}`), 200, `${cmd} ${p} on --${flag}`);
        }
      }
      for (const [name, child] of [
        ['balancer', balancer],
        ['sidecar', sidecar],
        ['discovery', discovery],
      ] as const) {
        assert.equal(await stopped(child), 0, `${name} exits 0 on SIGTERM`);
      }
      // And it fails when the component's port does not answer: a stand-in process with a sidecar's command line.
      const closed = await freePort();
      const fake = spawn(process.execPath, ['-e', 'setInterval(() => {}, 1000)', 'dist/cli/main.js', 'sidecar', `--http-port=${closed}`], {
        stdio: 'ignore',
      });
      children.push(fake);
      await new Promise((r) => setTimeout(r, 300));
      assert.equal(await healthy(fake)(), false, 'the HEALTHCHECK fails when /v2/health/ready does not answer');
    } finally {
      await Promise.all(children.map((c) => stopped(c, 5000)));
      fs.rmSync(dir, { recursive: true, force: true });
    }
  },
);
