import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdir, mkdtemp, rename, rm, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ConfigError } from '../../common/config-check';
import type { LogFields, Logger } from '../../common/log';
import {
  openRoutingConfigSource,
  type ReloadTrigger,
  type RoutingConfigSnapshot,
  type RoutingConfigSource,
  type RoutingConfigSourceOptions,
} from '../../routing-config/source';

const split = (a: number, b: number) => `models:\n  ranker:\n    split: { "1": ${a}, "2": ${b} }\n`;
const weightsOf = (s: RoutingConfigSnapshot) => s.config.models.ranker.split?.map((x) => x.weight);
const INVALID = 'models:\n  ranker:\n    split: { "1": -5 }\n    picker: fastest\n';

/** A logger that keeps its lines. */
function recordingLog(): Logger & { lines: { level: string; msg: string; fields?: LogFields }[] } {
  const lines: { level: string; msg: string; fields?: LogFields }[] = [];
  const at = (level: string) => (msg: string, fields?: LogFields) => void lines.push({ level, msg, fields });
  return { lines, info: at('info'), warn: at('warn'), error: at('error') };
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Polls cond every 10 ms; fails after 3 s. */
async function waitFor(cond: () => boolean, what: string): Promise<void> {
  for (let waited = 0; !cond(); waited += 10) {
    if (waited > 3000) assert.fail(`timed out waiting for ${what}`);
    await sleep(10);
  }
}

/** Resolves with the next version a listener receives; rejects after 3 s (its timer also keeps the event loop alive for signals). */
function nextChange(src: RoutingConfigSource): Promise<RoutingConfigSnapshot> {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error('no new config version within 3 s')), 3000);
    const off = src.onChange((s) => {
      off();
      clearTimeout(timer);
      resolve(s);
    });
  });
}

/** Runs body with a temp dir holding routing.yaml = text, and a source on it; cleans up after. */
async function withSource(
  text: string,
  opts: Partial<RoutingConfigSourceOptions>,
  body: (src: RoutingConfigSource, file: string, log: ReturnType<typeof recordingLog>, dir: string) => Promise<void>,
): Promise<void> {
  const dir = await mkdtemp(join(tmpdir(), 'routing-src-'));
  const file = join(dir, 'routing.yaml');
  await writeFile(file, text);
  const log = recordingLog();
  const src = await openRoutingConfigSource({ file, log, debounceMs: 20, pollMs: 30, triggers: [], ...opts });
  try {
    await body(src, file, log, dir);
  } finally {
    src.close();
    await rm(dir, { recursive: true, force: true });
  }
}

test('a rewritten file reaches listeners as the next version (fs.watch only)', async () => {
  await withSource(split(95, 5), { pollMs: 0 }, async (src, file) => {
    assert.equal(src.current().version, 1);
    const seen = nextChange(src);
    await writeFile(file, split(50, 50));
    const s = await seen;
    assert.equal(s.version, 2);
    assert.deepEqual(weightsOf(s), [50, 50]);
    assert.equal(src.current(), s);
    assert.equal(s.json, JSON.stringify(s.config));
  });
});

test('an invalid rewrite is logged once, listeners hear nothing, the last good config stays', async () => {
  await withSource(split(95, 5), {}, async (src, file, log) => {
    let calls = 0;
    src.onChange(() => calls++);
    await writeFile(file, INVALID);
    await waitFor(() => log.lines.some((l) => l.level === 'error'), 'the rejection log line');
    await sleep(200); // several poll periods and any late watch events: none may log again
    const errors = log.lines.filter((l) => l.level === 'error');
    assert.equal(errors.length, 1, JSON.stringify(errors));
    assert.match(
      errors[0].msg,
      /^routing config rejected; keeping version 1: .*routing\.yaml:3:19: models\.ranker\.split\.1: found -5.* \(and 1 more\)$/,
    );
    assert.equal((errors[0].fields?.problems as string[]).length, 2);
    assert.equal(calls, 0);
    assert.equal(src.current().version, 1);
    assert.deepEqual(weightsOf(src.current()), [95, 5]);
    // Fixed: the next good file is version 2.
    const seen = nextChange(src);
    await writeFile(file, split(80, 20));
    assert.deepEqual(weightsOf(await seen), [80, 20]);
    assert.equal((await seen).version, 2);
  });
});

test('a reload trigger (SIGHUP in production) re-reads the file; unchanged content publishes nothing', async () => {
  let fire: () => void = () => assert.fail('trigger not installed');
  let uninstalled = false;
  const trigger: ReloadTrigger = (reload) => {
    fire = reload;
    return () => void (uninstalled = true);
  };
  await withSource(split(95, 5), { watch: false, pollMs: 0, triggers: [trigger] }, async (src, file, log) => {
    await writeFile(file, split(0, 100));
    await sleep(50);
    assert.equal(src.current().version, 1, 'neither watching nor polling: only the trigger reloads');
    const seen = nextChange(src);
    fire();
    assert.deepEqual(weightsOf(await seen), [0, 100]);
    // Comment-only edits and repeated signals leave the version alone.
    await writeFile(file, `# canary promoted\n${split(0, 100)}`);
    assert.equal(await src.reload(), false);
    assert.equal(src.current().version, 2);
    // An explicit reload of an unchanged bad file logs again: the operator asked.
    await writeFile(file, INVALID);
    assert.equal(await src.reload(), false);
    assert.equal(await src.reload(), false);
    assert.equal(log.lines.filter((l) => l.level === 'error').length, 2);
  });
  assert.ok(uninstalled, 'close() uninstalls triggers');
});

test('the default trigger reloads on a real SIGHUP and is removed on close', async () => {
  const before = process.listenerCount('SIGHUP');
  await withSource(split(95, 5), { watch: false, pollMs: 0, triggers: undefined }, async (src, file) => {
    assert.equal(process.listenerCount('SIGHUP'), before + 1);
    await writeFile(file, split(10, 90));
    const seen = nextChange(src);
    process.kill(process.pid, 'SIGHUP');
    assert.deepEqual(weightsOf(await seen), [10, 90]);
  });
  assert.equal(process.listenerCount('SIGHUP'), before);
});

/** Replaces the file the way editors do: write a sibling, rename it over. */
async function renameOver(dir: string, file: string, text: string): Promise<void> {
  await writeFile(join(dir, '.routing.yaml.tmp'), text);
  await rename(join(dir, '.routing.yaml.tmp'), file);
}

/** Kubernetes' ConfigMap volume: routing.yaml → ..data/routing.yaml, ..data → ..<timestamp>; updates swap ..data. */
async function configMapSwap(dir: string, _file: string, text: string, gen: number): Promise<void> {
  await mkdir(join(dir, `..gen${gen}`));
  await writeFile(join(dir, `..gen${gen}`, 'routing.yaml'), text);
  await symlink(`..gen${gen}`, join(dir, '..data_tmp'));
  await rename(join(dir, '..data_tmp'), join(dir, '..data'));
}

test('atomic replacements are picked up by fs.watch alone and by polling alone', async () => {
  const detectors: [string, Partial<RoutingConfigSourceOptions>][] = [
    ['fs.watch', { pollMs: 0 }],
    ['polling', { watch: false }],
  ];
  for (const [how, opts] of detectors) {
    await withSource(split(95, 5), opts, async (src, file, _log, dir) => {
      const seen = nextChange(src);
      await renameOver(dir, file, split(70, 30));
      assert.deepEqual(weightsOf(await seen), [70, 30], `rename, ${how}`);
    });
    // The ConfigMap layout, built before the source opens.
    const dir = await mkdtemp(join(tmpdir(), 'routing-cm-'));
    try {
      await configMapSwap(dir, '', split(95, 5), 1);
      const file = join(dir, 'routing.yaml');
      await symlink(join('..data', 'routing.yaml'), file);
      const src = await openRoutingConfigSource({ file, log: recordingLog(), debounceMs: 20, pollMs: 30, triggers: [], ...opts });
      try {
        const seen = nextChange(src);
        await configMapSwap(dir, file, split(60, 40), 2);
        assert.deepEqual(weightsOf(await seen), [60, 40], `ConfigMap swap, ${how}`);
      } finally {
        src.close();
      }
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  }
});

test('starting with an invalid or missing file fails with every problem listed', async () => {
  const dir = await mkdtemp(join(tmpdir(), 'routing-bad-'));
  try {
    const file = join(dir, 'routing.yaml');
    await writeFile(file, INVALID);
    await assert.rejects(openRoutingConfigSource({ file, log: recordingLog(), triggers: [] }), (err: unknown) => {
      assert.ok(err instanceof ConfigError);
      assert.deepEqual(
        err.issues.map((i) => `${i.line} ${i.path}`),
        ['3 models.ranker.split.1', '4 models.ranker.picker'],
      );
      return true;
    });
    await assert.rejects(openRoutingConfigSource({ file: join(dir, 'absent.yaml'), log: recordingLog(), triggers: [] }), (err: unknown) => {
      assert.ok(err instanceof ConfigError);
      assert.match(err.message, /absent\.yaml: found no readable file \(ENOENT/);
      return true;
    });
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});

test('a throwing listener is logged and does not stop the others; unsubscribed listeners hear nothing', async () => {
  await withSource(split(95, 5), { watch: false, pollMs: 0 }, async (src, file, log) => {
    const heard: number[] = [];
    src.onChange(() => {
      throw new Error('boom');
    });
    const off = src.onChange((s) => heard.push(s.version));
    await writeFile(file, split(1, 1));
    assert.equal(await src.reload(), true);
    off();
    await writeFile(file, split(1, 2));
    assert.equal(await src.reload(), true);
    assert.deepEqual(heard, [2]);
    assert.equal(src.current().version, 3);
    assert.equal(log.lines.filter((l) => l.msg === 'routing config listener failed').length, 2);
  });
});
