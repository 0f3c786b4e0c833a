// A real scenario end to end: discovery, one sidecar and the balancer as CLI
// processes, one 2 s open-loop phase through the balancer with the real load
// engine, the JSON report written, and nothing left running afterwards. The
// scenario also lists HAProxy with PATH hiding it, so the skipped-peer path
// (a note, its phase not run) is covered without depending on what is installed.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { runScenario } from '../../bench/scenario/run-scenario';
import { REPORT_SCHEMA, type Report } from '../../bench/harness/types';

const SCENARIO = `name: tiny
description: tiny end-to-end scenario
topology:
  sidecars: [{}]
  balancer: { workers: 1 }
  peers: [haproxy]
defaults: { duration: 2s, warmup: 500ms, connections: 1, workers: 1 }
phases:
  - { label: unary via infergate, target: infergate, rate: 50 }
  - { label: via haproxy, target: haproxy, rate: 50 }
`;

/** Direct children of this process still alive (the scenario's processes are detached but still ours). */
function liveChildren(): number[] {
  try {
    return readFileSync(`/proc/self/task/${process.pid}/children`, 'utf8').split(' ').filter(Boolean).map(Number);
  } catch {
    return [];
  }
}

test(
  'a tiny scenario starts its topology, measures one phase with zero errors, reports it, and stops everything',
  { timeout: 120_000 },
  async () => {
    const dir = mkdtempSync(path.join(os.tmpdir(), 'infergate-scenario-'));
    const file = path.join(dir, 'tiny.yaml');
    const json = path.join(dir, 'report.json');
    writeFileSync(file, SCENARIO);
    const savedPath = process.env.PATH;
    // Only node's own directory: haproxy (in /usr/sbin) is then "not installed"; the CLI is spawned by absolute path.
    process.env.PATH = path.dirname(process.execPath);
    let report: Report;
    try {
      report = await runScenario(file, { quiet: true, json });
    } finally {
      process.env.PATH = savedPath;
    }
    try {
      assert.equal(report.schema, REPORT_SCHEMA);
      assert.equal(report.scenario, 'tiny');
      assert.equal(report.machine.cpus, os.cpus().length);
      assert.equal(report.results.length, 1, 'the haproxy phase was not run');
      const r = report.results[0];
      assert.equal(r.label, 'unary via infergate');
      assert.equal(r.mode, 'unary');
      assert.equal(r.loop, 'open');
      assert.equal(r.offeredRate, 50);
      assert.equal(r.errorRate, 0, `errors: ${JSON.stringify(r.errors)}`);
      assert.ok(r.ok >= 90 && r.ok <= 110, `about 100 calls answered in 2 s at 50/s: ${r.ok}`);
      assert.ok(r.latencyMs.p99 > 0 && r.latencyMs.p99 < 1000, `p99 ${r.latencyMs.p99} ms`);
      const notes = report.notes ?? [];
      assert.ok(notes.includes('tiny end-to-end scenario'));
      assert.ok(
        notes.some((n) => /^haproxy: skipped, binary not found/.test(n)),
        notes.join('\n'),
      );
      assert.ok(notes.some((n) => /^via haproxy: not run/.test(n)));
      assert.ok(
        notes.some((n) =>
          /^unary via infergate: infergate CPU \d+ µs\/req .*, sidecars \d+ µs\/req, generator \d+ µs\/req; other load/.test(n),
        ),
        notes.join('\n'),
      );
      assert.ok(notes.some((n) => /^machine: load average/.test(n)));
      const written = JSON.parse(readFileSync(json, 'utf8')) as Report;
      assert.equal(written.results[0].label, 'unary via infergate');
      assert.deepEqual(liveChildren(), [], 'every process the scenario started has exited');
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  },
);
