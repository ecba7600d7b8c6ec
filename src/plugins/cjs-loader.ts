import { existsSync, statSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, isAbsolute, resolve } from 'node:path';
import vm from 'node:vm';
import { CJS_PARAMS, stripHashbang, type ModuleFormat } from './module-format.js';

// CommonJS for plugins, inside the call's V8 context: the plugin's own files are evaluated anew for every
// call (each call has its own module cache, as each SPS call has its own process), while Node's built-in
// modules and packages from node_modules come from the worker's own require, loaded once and shared.

export interface CjsHost {
  /** Module format of one of the plugin's files. */
  format(path: string): ModuleFormat;
  /** Source text of one of the plugin's files. */
  text(path: string): string;
}

interface CjsModule {
  exports: unknown;
  loaded: boolean;
}

const EXTENSIONS = ['', '.js', '.cjs', '.json', '/index.js', '/index.cjs', '/index.json'];

function resolveFile(base: string): string | undefined {
  for (const ext of EXTENSIONS) {
    const p = base + ext;
    if (existsSync(p) && statSync(p).isFile()) return p;
  }
  return undefined;
}

/** A loader for one call: `load(path)` returns the module.exports of a plugin file evaluated in `context`. */
export function cjsLoader(context: vm.Context, host: CjsHost): (path: string) => unknown {
  const cache = new Map<string, CjsModule>();
  const makeModule = vm.runInContext('(() => ({ exports: {}, loaded: false }))', context) as () => CjsModule;
  const parseJson = vm.runInContext('JSON.parse', context) as (t: string) => unknown;

  const load = (path: string): unknown => {
    const known = cache.get(path);
    if (known) return known.exports; // a cycle, or a second require: the same object, as Node gives
    if (path.endsWith('.json')) {
      const json = { exports: parseJson(host.text(path)), loaded: true };
      cache.set(path, json);
      return json.exports;
    }
    if (host.format(path) === 'esm') {
      throw new Error(`require() of the ES module ${path}: use import, or make the requiring file an ES module too`);
    }
    const mod = makeModule();
    cache.set(path, mod);
    const fn = vm.compileFunction(stripHashbang(host.text(path)), CJS_PARAMS, { filename: path, parsingContext: context }) as
      (...a: unknown[]) => void;
    fn.call(mod.exports, mod.exports, requireFrom(path), mod, path, dirname(path));
    mod.loaded = true;
    return mod.exports;
  };

  const requireFrom = (from: string): NodeJS.Require => {
    const outer = createRequire(from);
    const req = ((specifier: string) => {
      if (specifier.startsWith('.') || isAbsolute(specifier)) {
        const base = isAbsolute(specifier) ? specifier : resolve(dirname(from), specifier);
        const file = resolveFile(base);
        if (!file) throw Object.assign(new Error(`Cannot find module '${specifier}' from ${from}`), { code: 'MODULE_NOT_FOUND' });
        return load(file);
      }
      // As for ES modules (context-worker.ts): the runner's answer channel is not for plugins.
      if (specifier === 'worker_threads' || specifier === 'node:worker_threads') throw new Error('node:worker_threads is not available to plugins');
      return outer(specifier);
    }) as NodeJS.Require;
    req.resolve = outer.resolve;
    req.cache = outer.cache;
    return req;
  };

  return load;
}

/** The namespace an ES module sees when it imports a CommonJS file: `default` and the own keys of exports. */
export function cjsNamespace(exports: unknown): Record<string, unknown> {
  const ns: Record<string, unknown> = {};
  if (exports !== null && (typeof exports === 'object' || typeof exports === 'function')) {
    for (const k of Object.keys(exports)) if (k !== 'default') ns[k] = (exports as Record<string, unknown>)[k];
  }
  ns['default'] = exports;
  return ns;
}
