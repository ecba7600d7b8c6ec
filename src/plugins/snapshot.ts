import { createHash } from 'node:crypto';
import { copyFileSync, existsSync, mkdirSync, readdirSync, readFileSync, renameSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { dirname, join, relative } from 'node:path';

// A loaded plugin runs from a frozen copy of its folder, one per content version, so that what a session
// started with stays what it runs: runners started later for that session (a retired pool still serves its
// session_ended) read the copy, not a file an author has edited since. node_modules is linked, not copied.

/** The plugin's own files, relative to `root`, sorted (node_modules and dot files left out). */
export function pluginFiles(root: string): string[] {
  const found: string[] = [];
  const walk = (d: string): void => {
    for (const e of readdirSync(d, { withFileTypes: true })) {
      if (e.name === 'node_modules' || e.name.startsWith('.') || e.name === '__pycache__') continue;
      const p = join(d, e.name);
      if (e.isDirectory()) walk(p);
      else if (e.isFile()) found.push(relative(root, p));
    }
  };
  walk(root);
  return found.sort();
}

/**
 * A hash of the plugin's files (names and contents): equal hashes, same code. Its installed packages count by
 * npm's record of them (node_modules/.package-lock.json, rewritten by every npm install), not file by file.
 */
export function pluginHash(root: string): string {
  const hash = createHash('sha256');
  for (const f of pluginFiles(root)) hash.update(f).update('\0').update(readFileSync(join(root, f))).update('\0');
  const installed = join(root, 'node_modules', '.package-lock.json');
  if (existsSync(installed)) hash.update('node_modules\0').update(readFileSync(installed));
  return hash.digest('hex').slice(0, 16);
}

/** Copies `dir` to `<snapshotsDir>/<name>-<hash>` (once per content) and returns that folder. */
export function snapshotPlugin(dir: string, name: string, snapshotsDir: string): string {
  const out = join(snapshotsDir, `${name}-${pluginHash(dir)}`);
  if (existsSync(join(out, '.complete'))) return out;
  const tmp = `${out}.tmp-${process.pid}-${Date.now()}`;
  rmSync(tmp, { recursive: true, force: true });
  mkdirSync(tmp, { recursive: true, mode: 0o700 });
  for (const f of pluginFiles(dir)) {
    mkdirSync(dirname(join(tmp, f)), { recursive: true });
    copyFileSync(join(dir, f), join(tmp, f));
  }
  if (existsSync(join(dir, 'node_modules'))) symlinkSync(join(dir, 'node_modules'), join(tmp, 'node_modules'), 'dir');
  writeFileSync(join(tmp, '.complete'), '');
  rmSync(out, { recursive: true, force: true });
  renameSync(tmp, out);
  return out;
}
