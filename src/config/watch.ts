import { existsSync, watch, type FSWatcher } from 'node:fs';
import { basename } from 'node:path';
import type { Logger } from 'pino';

// Watches folders (never single files: editors and ConfigMap updates replace a file, and a watch on the old
// inode goes deaf) and reports changed paths once they have settled: `debounceMs` after the last event, so
// that a save that writes, renames and touches becomes one change. Editor scratch files are ignored.

export interface WatchedFolder {
  readonly dir: string;
  readonly recursive: boolean;
  /** Which names inside `dir` matter (relative paths); all when absent. */
  readonly accept?: (name: string) => boolean;
}

export interface FolderWatch {
  close(): void;
}

/** Swap, backup and lock files of editors (vim, emacs, JetBrains) and Python's byte-code caches. */
function scratch(name: string): boolean {
  const base = basename(name);
  return base.startsWith('.') || base.endsWith('~') || base.endsWith('.swp') || base.endsWith('.swx') || base === '4913' ||
    name.split('/').includes('__pycache__');
}

export function watchFolders(folders: readonly WatchedFolder[], onChange: (paths: string[]) => void, log: Logger, debounceMs = 200): FolderWatch {
  const watchers: FSWatcher[] = [];
  const pending = new Set<string>();
  let timer: NodeJS.Timeout | undefined;
  let closed = false;
  for (const f of folders) {
    if (!existsSync(f.dir)) {
      log.warn({ event: 'watch.missing', dir: f.dir }, 'folder to watch does not exist; changes in it are not seen until a reload');
      continue;
    }
    try {
      const w = watch(f.dir, { recursive: f.recursive, persistent: false }, (_event, name) => {
        if (closed || name === null) return;
        const rel = name.toString();
        if (scratch(rel) || (f.accept && !f.accept(rel))) return;
        pending.add(`${f.dir}/${rel}`);
        clearTimeout(timer);
        timer = setTimeout(() => {
          const paths = [...pending];
          pending.clear();
          if (!closed) onChange(paths);
        }, debounceMs);
      });
      w.on('error', (err) => log.warn({ event: 'watch.error', dir: f.dir, err: { message: err.message } }, 'watching a folder failed'));
      watchers.push(w);
    } catch (err) {
      log.warn({ event: 'watch.error', dir: f.dir, err: { message: (err as Error).message } }, 'cannot watch a folder');
    }
  }
  return {
    close() {
      closed = true;
      clearTimeout(timer);
      for (const w of watchers) w.close();
    },
  };
}
