import { createHash } from 'node:crypto';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { basename, dirname, join } from 'node:path';
import type { Logger } from 'pino';
import type { Config } from '../config/config.js';
import { watchFolders, type FolderWatch } from '../config/watch.js';
import type { BastionError } from '../core/errors.js';
import { pluginHash } from '../plugins/snapshot.js';

// The live loop for plugin authors (config `watch: true`, or `gatehouse serve --dev`): a change in plugins_dir
// or to the config file reloads both through the same path as SIGHUP, so the next login gets the new code
// while sessions already running keep the runtime snapshot they started with. A change that does not load is
// logged with its reason (file and line) and the last good version keeps serving. Events that change nothing
// (an editor's touch, a save of the same text) reload nothing: the files' contents are compared first.

export interface LiveCodeOptions {
  /** The configuration now serving (it names the folders to watch). */
  readonly config: () => Config;
  readonly reload: () => Promise<void>;
  readonly log: Logger;
  readonly debounceMs?: number;
}

export interface LiveCode {
  close(): void;
}

/** What a reload would read: the config file's text and every plugin folder's content. */
function fingerprint(config: Config): string {
  const hash = createHash('sha256');
  try {
    hash.update(readFileSync(config.file));
  } catch {
    hash.update('\0unreadable');
  }
  if (existsSync(config.pluginsDir)) {
    for (const e of readdirSync(config.pluginsDir, { withFileTypes: true }).sort((a, b) => a.name.localeCompare(b.name))) {
      if (!e.isDirectory() || e.name.startsWith('.')) continue;
      try {
        hash.update(e.name).update(pluginHash(join(config.pluginsDir, e.name)));
      } catch {
        hash.update(e.name).update('\0unreadable'); // a folder removed while it was read: the next event tells
      }
    }
  }
  return hash.digest('hex');
}

export function startLiveCode(opts: LiveCodeOptions): LiveCode {
  const { log } = opts;
  let seen = fingerprint(opts.config());
  let watch: FolderWatch | undefined;
  let closed = false;
  let running: Promise<void> = Promise.resolve();

  const arm = (): void => {
    watch?.close();
    const config = opts.config();
    const file = basename(config.file);
    watch = watchFolders([
      { dir: config.pluginsDir, recursive: true },
      { dir: dirname(config.file), recursive: false, accept: (name) => name === file },
    ], (paths) => { running = running.then(() => changed(paths)); }, log, opts.debounceMs);
    log.info({ event: 'watch.start', plugins_dir: config.pluginsDir, config: config.file }, 'watching plugins and the configuration for changes');
  };

  const changed = async (paths: string[]): Promise<void> => {
    if (closed) return;
    const now = fingerprint(opts.config());
    if (now === seen) return;
    seen = now;
    log.info({ event: 'watch.change', paths }, 'plugin or configuration files changed; reloading');
    try {
      await opts.reload();
      log.info({ event: 'config.reloaded', trigger: 'watch' }, 'configuration reloaded');
      // The new configuration may name another plugins_dir; and what the reload read is what counts as seen.
      seen = fingerprint(opts.config());
      if (!closed) arm();
    } catch (err) {
      log.error({ event: 'config.reload_failed', trigger: 'watch', code: (err as BastionError).code, err: { message: (err as Error).message } },
        'reload failed; the last good version keeps serving');
    }
  };

  arm();
  return {
    close() {
      closed = true;
      watch?.close();
    },
  };
}
