// The quick start's `npm start`: the demo command as a real process brings up
// discovery, two sidecars and the balancer, answers the request it prints
// (REST) and a gRPC call through the balancer, and exits 0 on SIGTERM.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { CLI, freePort } from '../../testkit/processes';
import { features, independentClient, rawF32, unary } from '../helpers/sidecar-fixture';

/** Resolves with stdout so far once it contains `marker`; rejects if the process exits or time runs out. */
function waitForOutput(child: ReturnType<typeof spawn>, marker: string, timeoutMs: number): Promise<string> {
  return new Promise((resolve, reject) => {
    let out = '';
    const t = setTimeout(() => reject(new Error(`no '${marker}' after ${timeoutMs} ms; output:\n${out}`)), timeoutMs);
    child.stdout!.on('data', (c: Buffer) => {
      out += c.toString();
      if (out.includes(marker)) {
        clearTimeout(t);
        resolve(out);
      }
    });
    child.once('exit', (code) => {
      clearTimeout(t);
      reject(new Error(`demo exited with ${code} before '${marker}'; output:\n${out}`));
    });
  });
}

test('the demo starts, answers the request it prints and a gRPC call, and stops on SIGTERM with exit 0', async () => {
  const [g, h, m, d] = [await freePort(), await freePort(), await freePort(), await freePort()];
  const child = spawn(
    process.execPath,
    [CLI, 'demo', '--grpc-port', String(g), '--http-port', String(h), '--metrics-port', String(m), '--discovery-port', String(d)],
    { stdio: ['ignore', 'pipe', 'inherit'] },
  );
  const client = independentClient(g);
  try {
    const out = await waitForOutput(child, 'Ctrl-C stops it.', 60_000);
    // The printed curl line is the request a new user pastes: send exactly that body to exactly that URL.
    const cmd = /curl -s (\S+) -d '(.*)'/.exec(out);
    assert.ok(cmd, `a curl line in:\n${out}`);
    const res = await fetch(`http://${cmd[1]}`, { method: 'POST', body: cmd[2] });
    const body = (await res.json()) as { model_name: string; outputs: Array<{ name: string; data: number[] }> };
    assert.equal(res.status, 200, JSON.stringify(body));
    assert.equal(body.model_name, 'recommend');
    assert.ok(
      body.outputs.some((o) => o.data.length > 0),
      'the answer carries top-k ids and scores',
    );

    const req = {
      modelName: 'ranker',
      inputs: [{ name: 'features', datatype: 'FP32', shape: [2, 256] }],
      rawInputContents: [rawF32(features(2))],
    };
    const { res: grpcRes } = await unary<{ modelName: string; outputs: Array<{ name: string; shape: string[] }> }>(
      client,
      'ModelInfer',
      req,
    );
    assert.equal(grpcRes.modelName, 'ranker');
    assert.deepEqual(
      grpcRes.outputs.map((o) => o.name),
      ['score'],
    );
  } finally {
    client.close();
    const code = await new Promise<number | null>((resolve) => {
      if (child.exitCode !== null) return resolve(child.exitCode);
      const kill = setTimeout(() => child.kill('SIGKILL'), 15_000);
      child.once('exit', (c) => {
        clearTimeout(kill);
        resolve(c);
      });
      child.kill('SIGTERM');
    });
    assert.equal(code, 0, 'SIGTERM drains and exits 0');
  }
});
