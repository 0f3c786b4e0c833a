// Keeps the routing config current: reads routing.yaml at start (an invalid
// file fails start-up with every problem listed), then re-reads it when it
// changes or on SIGHUP. A good new file becomes the next version and is
// pushed to listeners; a bad one is logged in one line and the last good
// config stays, so a typo never takes routing down.
//
// Change detection has two paths because neither suffices alone:
// - fs.watch on the *directory*, debounced: quick, and a directory watch
//   survives the atomic rename editors and Kubernetes use (a watch on the
//   file itself follows the replaced inode and goes quiet). Kubernetes swaps
//   a `..data` symlink, so events for any `..` entry count too.
// - polling stat() (it follows symlinks): catches what inotify misses, e.g.
//   network filesystems or a file that is itself a symlink elsewhere.
// Re-reading an unchanged file is skipped, so the two paths never double up.
import { watch, type FSWatcher } from 'node:fs';
import { readFile, stat } from 'node:fs/promises';
import { basename, dirname } from 'node:path';
import { systemClock, type Clock, type TimerHandle } from '../common/clock';
import { ConfigError, formatIssue } from '../common/config-check';
import type { Logger } from '../common/log';
import { parseRoutingConfig, type ParseRoutingOptions } from './parse';
import type { RoutingConfig } from './types';

/** One version of the config, as listeners and watchers see it. */
export interface RoutingConfigSnapshot {
  /** Starts at 1; +1 for each accepted change. */
  readonly version: number;
  /** The validated config. */
  readonly config: RoutingConfig;
  /** JSON.stringify(config), computed once per version (GET /config, watch pushes). */
  readonly json: string;
}

/** A live routing config. */
export interface RoutingConfigSource {
  /** The last good config. */
  current(): RoutingConfigSnapshot;
  /** Calls cb with every new version (not the current one); returns the unsubscriber. */
  onChange(cb: (s: RoutingConfigSnapshot) => void): () => void;
  /** Re-reads the file now, even if unchanged; resolves true when a new version was published. */
  reload(): Promise<boolean>;
  /** Stops watching, polling and listening for signals. */
  close(): void;
}

/** Installs something that asks for a reload (a signal, an admin endpoint); returns its uninstaller. */
export type ReloadTrigger = (reload: () => void) => () => void;

/** Reload on SIGHUP, the daemon convention. Installing a handler also stops SIGHUP from killing the process. */
export const sighupTrigger: ReloadTrigger = (reload) => {
  const onHup = () => reload();
  process.on('SIGHUP', onHup);
  return () => process.off('SIGHUP', onHup);
};

/** Options of openRoutingConfigSource. */
export interface RoutingConfigSourceOptions {
  /** Path of routing.yaml. */
  readonly file: string;
  /** Receives one line per load, rejection or read failure. */
  readonly log: Logger;
  /** Passed to parseRoutingConfig (e.g. the registered picker names). */
  readonly parse?: ParseRoutingOptions;
  /** Timers for debounce and polling; default the system clock. */
  readonly clock?: Clock;
  /** Quiet time after a file event before re-reading (ms); an editor's save is several events. Default 100. */
  readonly debounceMs?: number;
  /** stat() polling period (ms); 0 turns polling off. Default 1000. */
  readonly pollMs?: number;
  /** Watch the file's directory with fs.watch. Default true. */
  readonly watch?: boolean;
  /** Reload triggers to install; default [sighupTrigger]. Tests pass their own. */
  readonly triggers?: readonly ReloadTrigger[];
}

/** Reads and validates the file, then keeps it current; rejects with a ConfigError listing every problem. */
export async function openRoutingConfigSource(opts: RoutingConfigSourceOptions): Promise<RoutingConfigSource> {
  let read: FileRead;
  try {
    read = await readWithStat(opts.file);
  } catch (err) {
    throw new ConfigError([{ file: opts.file, path: '', found: `no readable file (${errText(err)})`, expected: 'a routing config file' }]);
  }
  const config = parseRoutingConfig(read.text, opts.file, opts.parse);
  opts.log.info('routing config loaded', { file: opts.file, version: 1 });
  return new FileConfigSource(opts, read, { version: 1, config, json: JSON.stringify(config) });
}

interface FileRead {
  readonly text: string;
  readonly sig: string;
}

/** stat before read: if the file changes in between, the next poll sees a new signature and re-reads. */
async function readWithStat(file: string): Promise<FileRead> {
  const s = await stat(file);
  return { sig: `${s.dev}:${s.ino}:${s.size}:${s.mtimeMs}`, text: await readFile(file, 'utf8') };
}

function errText(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}

class FileConfigSource implements RoutingConfigSource {
  private readonly listeners = new Set<(s: RoutingConfigSnapshot) => void>();
  private readonly clock: Clock;
  private readonly uninstall: (() => void)[] = [];
  private watcher: FSWatcher | undefined;
  private debounce: TimerHandle | undefined;
  private poll: TimerHandle | undefined;
  /** Text of the last attempt, good or bad: an unchanged bad file is not logged again on every event. */
  private lastText: string;
  private lastSig: string;
  /** Last read failure, logged once until it changes. */
  private lastReadError = '';
  /** Reloads run one at a time, in order; a reload not yet started absorbs later requests. */
  private chain: Promise<unknown> = Promise.resolve();
  private queued: { explicit: boolean; done: Promise<boolean> } | undefined;
  private closed = false;

  constructor(
    private readonly opts: RoutingConfigSourceOptions,
    first: FileRead,
    private snapshot: RoutingConfigSnapshot,
  ) {
    this.clock = opts.clock ?? systemClock;
    this.lastText = first.text;
    this.lastSig = first.sig;
    if (opts.watch ?? true) this.startWatch();
    if ((opts.pollMs ?? 1000) > 0) this.schedulePoll();
    for (const t of opts.triggers ?? [sighupTrigger]) this.uninstall.push(t(() => void this.request(true)));
  }

  current(): RoutingConfigSnapshot {
    return this.snapshot;
  }

  onChange(cb: (s: RoutingConfigSnapshot) => void): () => void {
    this.listeners.add(cb);
    return () => this.listeners.delete(cb);
  }

  reload(): Promise<boolean> {
    return this.request(true);
  }

  close(): void {
    this.closed = true;
    this.watcher?.close();
    if (this.debounce !== undefined) this.clock.clearTimeout(this.debounce);
    if (this.poll !== undefined) this.clock.clearTimeout(this.poll);
    for (const u of this.uninstall.splice(0)) u();
    this.listeners.clear();
  }

  private startWatch(): void {
    const name = basename(this.opts.file);
    try {
      this.watcher = watch(dirname(this.opts.file), (_event, f) => {
        if (f !== null && f !== name && !f.startsWith('..')) return;
        if (this.debounce !== undefined) this.clock.clearTimeout(this.debounce);
        this.debounce = this.clock.setTimeout(() => void this.request(false), this.opts.debounceMs ?? 100);
      });
      this.watcher.on('error', (err) => {
        this.opts.log.warn('routing config watch failed; polling only', { file: this.opts.file, error: errText(err) });
        this.watcher?.close();
      });
    } catch (err) {
      this.opts.log.warn('routing config watch unavailable; polling only', { file: this.opts.file, error: errText(err) });
    }
  }

  private schedulePoll(): void {
    this.poll = this.clock.setTimeout(() => {
      void stat(this.opts.file)
        .then(
          (s) => `${s.dev}:${s.ino}:${s.size}:${s.mtimeMs}`,
          (err: unknown) => `error:${errText(err)}`,
        )
        .then((sig) => {
          if (this.closed) return;
          if (sig !== this.lastSig) void this.request(false);
          this.schedulePoll();
        });
    }, this.opts.pollMs ?? 1000);
  }

  /** Queues a reload; explicit ones (SIGHUP, reload()) re-parse even an unchanged file. */
  private request(explicit: boolean): Promise<boolean> {
    if (this.queued) {
      this.queued.explicit ||= explicit;
      return this.queued.done;
    }
    const q: { explicit: boolean; done: Promise<boolean> } = { explicit, done: Promise.resolve(false) };
    q.done = this.chain.then(() => {
      this.queued = undefined;
      return this.attempt(q.explicit);
    });
    this.queued = q;
    this.chain = q.done.catch(() => false);
    return q.done;
  }

  private async attempt(explicit: boolean): Promise<boolean> {
    if (this.closed) return false;
    const { file, log } = this.opts;
    const version = this.snapshot.version;
    let read: FileRead;
    try {
      read = await readWithStat(file);
    } catch (err) {
      this.lastSig = `error:${errText(err)}`;
      // Mid-swap or deleted: say so once, keep serving, and pick the file up when it is back.
      if (this.lastReadError !== errText(err))
        log.error('routing config unreadable; keeping the last good one', { file, version, error: errText(err) });
      this.lastReadError = errText(err);
      return false;
    }
    this.lastReadError = '';
    this.lastSig = read.sig;
    if (!explicit && read.text === this.lastText) return false;
    this.lastText = read.text;
    let config: RoutingConfig;
    try {
      config = parseRoutingConfig(read.text, file, this.opts.parse);
    } catch (err) {
      const problems = err instanceof ConfigError ? err.issues.map(formatIssue) : [errText(err)];
      const more = problems.length > 1 ? ` (and ${problems.length - 1} more)` : '';
      log.error(`routing config rejected; keeping version ${version}: ${problems[0]}${more}`, { file, version, problems });
      return false;
    }
    const json = JSON.stringify(config);
    // A comment-only edit changes nothing watchers would see: no new version to push.
    if (json === this.snapshot.json) return false;
    this.snapshot = { version: version + 1, config, json };
    log.info('routing config loaded', { file, version: version + 1 });
    for (const cb of [...this.listeners]) {
      try {
        cb(this.snapshot);
      } catch (err) {
        log.error('routing config listener failed', { file, version: version + 1, error: errText(err) });
      }
    }
    return true;
  }
}
