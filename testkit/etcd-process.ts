// Starts a real, single-member etcd for tests: free loopback ports, a temp
// data dir, removed on stop. Tests skip (with a message naming the package)
// only when the etcd binary is missing; CI installs it (.ci/run).
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { freePort } from './processes';

/** Why etcd tests cannot run here, or undefined when they can. */
export function etcdMissing(): string | undefined {
  const r = spawnSync('etcd', ['--version'], { encoding: 'utf8' });
  return r.error || r.status !== 0
    ? 'etcd is not installed (Debian: apt-get install etcd-server etcd-client; .ci/run does this)'
    : undefined;
}

/** A running etcd. */
export interface EtcdProcess {
  /** Client URL, e.g. http://127.0.0.1:23790. */
  readonly url: string;
  /** Kills etcd and removes its data dir. */
  stop(): Promise<void>;
}

/** Starts etcd and resolves once it answers /health. */
export async function startEtcd(): Promise<EtcdProcess> {
  const [clientPort, peerPort] = [await freePort(), await freePort()];
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'infergate-etcd-'));
  const url = `http://127.0.0.1:${clientPort}`;
  const peer = `http://127.0.0.1:${peerPort}`;
  const proc: ChildProcess = spawn(
    'etcd',
    [
      '--name',
      'test',
      '--data-dir',
      dir,
      '--log-level',
      'error',
      '--logger',
      'zap',
      // Short raft timers lower etcd's minimum lease TTL (1.5 x election
      // timeout, rounded up to whole seconds) from 2 s to 1 s: quicker expiry tests.
      '--heartbeat-interval',
      '20',
      '--election-timeout',
      '200',
      '--listen-client-urls',
      url,
      '--advertise-client-urls',
      url,
      '--listen-peer-urls',
      peer,
      '--initial-advertise-peer-urls',
      peer,
      '--initial-cluster',
      `test=${peer}`,
    ],
    { stdio: ['ignore', 'ignore', 'pipe'] },
  );
  let stderr = '';
  proc.stderr?.on('data', (b: Buffer) => (stderr += b.toString()));
  const exited = new Promise<void>((resolve) => proc.once('exit', () => resolve()));
  const stop = async () => {
    proc.kill('SIGKILL');
    await exited;
    fs.rmSync(dir, { recursive: true, force: true });
  };
  const deadline = Date.now() + 10_000;
  for (;;) {
    try {
      const res = await fetch(`${url}/health`);
      if (res.ok) return { url, stop };
    } catch {
      // not listening yet
    }
    if (proc.exitCode !== null || Date.now() > deadline) {
      await stop();
      throw new Error(`etcd did not become healthy: ${stderr.slice(-2000)}`);
    }
    await new Promise((r) => setTimeout(r, 50));
  }
}
