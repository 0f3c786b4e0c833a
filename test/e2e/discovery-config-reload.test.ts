// End to end with real processes and files: `infergate discovery --config`
// pushes the routing config to a watcher; rewriting the file changes the
// split weights the watcher sees; SIGHUP reloads; an invalid rewrite keeps
// the last good config (no new version reaches the watcher).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { silentLogger } from '../../common/log';
import { DiscoveryWatcher } from '../../discovery/client/watcher';
import { freePort, startCli, stop, waitReady } from '../../testkit/processes';
import { waitFor } from '../helpers/discovery-fixture';

const routing = (v1: number, v2: number) => `models:\n  ranker:\n    split: { "1": ${v1}, "2": ${v2} }\n`;

test('a routing config rewrite reaches watchers as a new version; a bad rewrite does not', async () => {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'infergate-routing-'));
  const file = path.join(dir, 'routing.yaml');
  writeFileSync(file, routing(95, 5));
  const [g, h] = [await freePort(), await freePort()];
  const child = startCli(['discovery', '--host', '127.0.0.1', '--grpc-port', String(g), '--http-port', String(h), '--config', file]);
  const w = new DiscoveryWatcher({ discovery: `127.0.0.1:${g}`, log: silentLogger });
  const split = () => {
    const json = w.view().config?.json;
    if (!json) return undefined;
    const parsed = JSON.parse(json) as { models: Record<string, { split?: { version: string; weight: number }[] }> };
    const s = parsed.models.ranker?.split;
    return s && Object.fromEntries(s.map((x) => [x.version, x.weight]));
  };
  try {
    await waitReady(`http://127.0.0.1:${h}/healthz`);
    w.start();
    await waitFor(() => split() !== undefined, 'the first config', 5000);
    assert.deepEqual(split(), { '1': 95, '2': 5 });
    const v1 = w.view().config!.version;

    writeFileSync(file, routing(50, 50));
    await waitFor(() => split()?.['2'] === 50, 'the rewritten split', 5000);
    const v2 = w.view().config!.version;
    assert.ok(v2 > v1, `version grows: ${v1} → ${v2}`);

    writeFileSync(file, 'models:\n  ranker:\n    split: { "1": -3 }\n');
    await new Promise((r) => setTimeout(r, 1500)); // past the debounce and one poll
    assert.equal(w.view().config!.version, v2, 'an invalid file publishes nothing');
    assert.deepEqual(split(), { '1': 50, '2': 50 }, 'the last good config stays');

    // SIGHUP re-reads: a valid file written while the watch is not looking still arrives.
    writeFileSync(file, routing(10, 90));
    child.kill('SIGHUP');
    await waitFor(() => split()?.['2'] === 90, 'the SIGHUP reload', 5000);
    const cfg = (await (await fetch(`http://127.0.0.1:${h}/config`)).json()) as { version: number };
    assert.equal(cfg.version, w.view().config!.version, '/config shows what watchers see');
  } finally {
    w.stop();
    await stop(child);
    rmSync(dir, { recursive: true, force: true });
  }
});
