// `infergate bench` as a user runs it: a child process of the built CLI
// against a trivial server in this process.
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import * as os from 'node:os';
import * as path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { checkReport } from '../../bench/harness/report-json';
import { startTrivialGrpc, type TrivialServer } from '../../bench/harness/trivial-server';

const CLI = path.resolve(__dirname, '../../cli/main.js');

/** Runs the CLI; resolves with its exit code and output (CI set: no live line). */
function cli(args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile(process.execPath, [CLI, 'bench', ...args], { env: { ...process.env, CI: '1' }, timeout: 30_000 }, (err, stdout, stderr) => {
      resolve({ code: err ? (typeof err.code === 'number' ? err.code : 1) : 0, stdout, stderr });
    });
  });
}

describe('infergate bench (CLI)', () => {
  let server: TrivialServer;
  let dir: string;
  before(async () => {
    server = await startTrivialGrpc();
    dir = await mkdtemp(path.join(os.tmpdir(), 'bench-cli-'));
  });
  after(async () => {
    await server.close();
    await rm(dir, { recursive: true, force: true });
  });

  it('an open-loop run prints the table and writes JSON and HTML', async () => {
    const json = path.join(dir, 'r.json');
    const html = path.join(dir, 'r.html');
    const r = await cli([
      '--target',
      `127.0.0.1:${server.port}`,
      '--rate',
      '200',
      '--duration',
      '1s',
      '--warmup',
      '200ms',
      '--mode',
      'stream',
      '--label',
      'trivial',
      '--json',
      json,
      '--html',
      html,
    ]);
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /\| trivial +\| 127\.0\.0\.1:\d+ +\| stream +\| open +\| 200 /);
    const report = JSON.parse(await readFile(json, 'utf8'));
    assert.deepEqual(await checkReport(report), []);
    assert.equal(report.results[0].sent, 200);
    assert.match(await readFile(html, 'utf8'), /<svg class="chart percentile"/);
  });

  it('a closed-loop run is labelled closed', async () => {
    const r = await cli([
      '--target',
      `127.0.0.1:${server.port}`,
      '--closed-loop',
      '--concurrency',
      '2',
      '--duration',
      '500ms',
      '--warmup',
      '0',
    ]);
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /closed \(c=2\)/);
    assert.match(r.stdout, /closed loop: .*hides stalls/);
  });

  // [args, message]: every one exits 2 with a message naming the problem.
  const usage: Array<[string[], RegExp]> = [
    [['--rate', '100'], /--target HOST:PORT is required/],
    [['--target', 'x:1'], /give one of --rate QPS/],
    [['--target', 'x:1', '--concurrency', '4'], /--concurrency is for a closed loop/],
    [['--target', 'x:1', '--closed-loop'], /--closed-loop needs --concurrency/],
    [['--target', 'x:1', '--rate', '10', '--duration', '30'], /--duration: '30' is not a duration/],
    [['--target', 'x:1', '--rate', '10', '--mode', 'grpc'], /--mode: 'grpc' is not a mode/],
    [['--target', 'x:1', '--find-max'], /--find-max needs --slo-p99/],
    [['--scenario', 'x.yaml', '--rate', '5'], /--scenario takes its targets and load from the file/],
  ];
  for (const [args, want] of usage) {
    it(`usage error: ${args.join(' ')}`, async () => {
      const r = await cli(args);
      assert.equal(r.code, 2);
      assert.match(r.stderr, want);
    });
  }

  it('--help lists every flag', async () => {
    const r = await cli(['--help']);
    assert.equal(r.code, 0);
    for (const flag of [
      '--target',
      '--model',
      '--mode',
      '--rate',
      '--closed-loop',
      '--concurrency',
      '--duration',
      '--warmup',
      '--connections',
      '--workers',
      '--payload',
      '--json',
      '--html',
      '--scenario',
      '--find-max',
      '--slo-p99',
    ]) {
      assert.ok(r.stdout.includes(`  ${flag} `), flag);
    }
  });
});
