import { spawnSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { dirname, extname, join } from 'node:path';
import vm from 'node:vm';

// Which module system a plugin's JavaScript file is written for, decided as Node decides it: .mjs is an ES
// module, .cjs CommonJS, and .js follows the nearest package.json's "type"; a .js file with no "type" to go
// by is detected from its syntax (Node's --experimental-detect-module rule, the default from Node 22): it is
// CommonJS unless parsing it as CommonJS fails on syntax only an ES module may use (import/export statements,
// import.meta, top-level await), so a plugin folder needs no package.json.

export type ModuleFormat = 'esm' | 'cjs';
export type PackageType = 'module' | 'commonjs' | undefined;

export const CJS_PARAMS = ['exports', 'require', 'module', '__filename', '__dirname'];

const ESM_ONLY = [
  'Cannot use import statement outside a module',
  "Unexpected token 'export'",
  "Cannot use 'import.meta' outside a module",
  'await is only valid in async functions and the top level bodies of modules',
];

/** The "type" of the package.json nearest to `dir`, looking no higher than `root`; `outer` above it. */
export function packageType(dir: string, root: string, outer: PackageType): PackageType {
  for (let d = dir; ; d = dirname(d)) {
    const pkg = join(d, 'package.json');
    if (existsSync(pkg)) {
      try {
        const type = (JSON.parse(readFileSync(pkg, 'utf8')) as { type?: unknown }).type;
        return type === 'module' || type === 'commonjs' ? type : undefined;
      } catch {
        return undefined;
      }
    }
    if (d === root || dirname(d) === d) return outer;
  }
}

/** The "type" in effect for a folder, as Node finds it (the nearest package.json up to the file system root). */
export function scopeType(dir: string): PackageType {
  return packageType(dir, '/', undefined);
}

/** Source text without a leading #! line, which only the parsers of whole scripts and modules accept. */
export function stripHashbang(text: string): string {
  return text.startsWith('#!') ? `//${text.slice(2)}` : text;
}

export function moduleFormat(path: string, text: string, type: PackageType): ModuleFormat {
  const ext = extname(path);
  if (ext === '.mjs') return 'esm';
  if (ext === '.cjs' || ext === '.json') return 'cjs';
  if (type === 'module') return 'esm';
  if (type === 'commonjs') return 'cjs';
  try {
    vm.compileFunction(stripHashbang(text), CJS_PARAMS, { filename: path });
    return 'cjs';
  } catch (err) {
    const message = (err as Error).message;
    return (err as Error | null)?.name === 'SyntaxError' && ESM_ONLY.some((m) => message.startsWith(m)) ? 'esm' : 'cjs';
  }
}

/**
 * A syntax error of an ES module with the file and line, which V8 keeps out of the error object for
 * modules: `node --check` on the same text says where. Only run when a module failed to parse.
 */
export function locateModuleSyntaxError(path: string, text: string, err: unknown): string {
  const r = spawnSync(process.execPath, ['--input-type=module', '--check'], { input: text, encoding: 'utf8', timeout: 10_000 });
  const m = /^\[stdin\]:(\d+)\n([^\n]*)\n([^\n]*)/.exec(r.stderr ?? '');
  const what = `${(err as Error).name}: ${(err as Error).message}`;
  return m ? `${path}:${m[1]}\n${m[2]}\n${m[3]}\n${what}` : `${path}: ${what}`;
}
