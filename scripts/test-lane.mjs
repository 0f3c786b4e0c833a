#!/usr/bin/env node
// Test lanes over the built tests (run `npm run build` first; the npm scripts do).
//
//   node scripts/test-lane.mjs unit [node --test flags...]   the edit-test loop: suites of seconds, well under a minute
//   node scripts/test-lane.mjs slow [node --test flags...]   the rest: multi-process and real-time suites
//   node scripts/test-lane.mjs unit --list                   print the lane's files instead of running them
//
// unit + slow = every test file; `npm test` still runs all of dist/test/ at once.
// Files are listed from the sources (test/**/*.test.ts), not from dist/, so a
// test that was moved or deleted does not run again from a stale build output.
import { spawnSync } from 'node:child_process';
import { existsSync, readdirSync } from 'node:fs';
import path from 'node:path';

const ROOT = path.resolve(import.meta.dirname, '..');

// Suites that start real processes (CLI children, etcd, grpc C-core, an npm install):
// a folder each, so a new multi-process suite goes in one of them, not in a list here.
const MULTI_PROCESS_DIRS = ['test/e2e/', 'test/interop/', 'test/packaging/'];

// In-process suites that are slow because they run in real time: each makes
// load runs (bench/harness/load.ts) of a second or more against a trivial server,
// and what they check is timing, so a fake clock cannot shorten them.
const SLOW_FILES = {
  'test/bench/harness/errors.test.ts': 'load runs of 1 s each, counting errors by status (about 14 s)',
  'test/bench/harness/schedule.test.ts': 'load runs checking the send schedule across warm-up and workers (about 11 s)',
  'test/bench/harness/omission.test.ts': 'open- and closed-loop runs across a server stall (about 11 s)',
  'test/bench/harness/report.test.ts': 'reports built from real load runs (about 7 s)',
};

function testFiles(dir) {
  const out = [];
  for (const e of readdirSync(path.join(ROOT, dir), { withFileTypes: true })) {
    const rel = `${dir}/${e.name}`;
    if (e.isDirectory()) out.push(...testFiles(rel));
    else if (e.name.endsWith('.test.ts')) out.push(rel);
  }
  return out.sort();
}

const isSlow = (f) => MULTI_PROCESS_DIRS.some((d) => f.startsWith(d)) || f in SLOW_FILES;

const [lane, ...rest] = process.argv.slice(2);
if (lane !== 'unit' && lane !== 'slow') {
  process.stderr.write('usage: node scripts/test-lane.mjs unit|slow [--list] [node --test flags...]\n');
  process.exit(2);
}
for (const f of Object.keys(SLOW_FILES)) {
  if (!existsSync(path.join(ROOT, f))) {
    process.stderr.write(`scripts/test-lane.mjs: SLOW_FILES names ${f}, which does not exist: update the list\n`);
    process.exit(2);
  }
}
const files = testFiles('test').filter((f) => isSlow(f) === (lane === 'slow'));
if (rest.includes('--list')) {
  process.stdout.write(files.join('\n') + '\n');
  process.exit(0);
}
const built = files.map((f) => path.join('dist', f.replace(/\.ts$/, '.js')));
const missing = built.filter((f) => !existsSync(path.join(ROOT, f)));
if (missing.length > 0) {
  process.stderr.write(`not built (run npm run build): ${missing.join(', ')}\n`);
  process.exit(2);
}
// The unit lane's suites use ports from the OS and fake clocks where a decision
// depends on time, so two at once (one per core here) is safe; flags given here come last and win.
const flags = lane === 'unit' ? ['--test-concurrency=2'] : ['--test-concurrency=1'];
const r = spawnSync(process.execPath, ['--test', ...flags, ...rest, ...built], { cwd: ROOT, stdio: 'inherit' });
process.exit(r.status ?? 1);
