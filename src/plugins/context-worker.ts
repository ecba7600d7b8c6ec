import { Console } from 'node:console';
import { readFileSync } from 'node:fs';
import { dirname, isAbsolute, resolve } from 'node:path';
import { Writable } from 'node:stream';
import { fileURLToPath, pathToFileURL } from 'node:url';
import vm from 'node:vm';
import { parentPort, workerData } from 'node:worker_threads';
import { cjsLoader, cjsNamespace } from './cjs-loader.js';
import { locateModuleSyntaxError, moduleFormat, packageType, type ModuleFormat, type PackageType } from './module-format.js';
import type { RunnerCall, RunnerMessage } from './runner.js';

// Runs JavaScript plugin hook calls inside a worker thread, one call at a time, each in a fresh V8 context:
// the plugin's entry module and the modules it imports from its own folder are evaluated anew for every call,
// with a new global object, its own timers (cleared when the call ends, as the end of SPS's process per call
// would) and its own view of `process` (properties and env changes stay with the call), so no state survives
// from one call to the next (spec 3.1), while a call costs well under a millisecond instead of a new thread.
// Node's built-in modules and packages from node_modules are loaded once per worker and shared by its calls.
// The host ends the worker when a call overruns its timeout, which stops even a busy loop.
// Files are ES modules or CommonJS as Node would take them (module-format.ts); both kinds may import each other
// as in Node, except that CommonJS cannot require() an ES module.

const port = parentPort!;
/** entry: the plugin's entry file; root: its folder; outerType: the package "type" in effect above the folder. */
const { entry, root, outerType } = workerData as { entry: string; root: string; outerType: PackageType };
const post = (m: RunnerMessage): void => port.postMessage(m);

// Node globals a plugin may expect beyond the language's own; timers, console and process are per call.
const SHARED_GLOBALS = [
  'Buffer', 'queueMicrotask', 'structuredClone', 'URL', 'URLSearchParams', 'TextEncoder', 'TextDecoder',
  'AbortController', 'AbortSignal', 'EventTarget', 'Event', 'fetch', 'Headers', 'Request', 'Response', 'FormData',
  'Blob', 'atob', 'btoa', 'crypto', 'performance',
] as const;

// Source text and V8 code cache per file, so that a call compiles its modules from cache. Node drops the
// dynamic-import callback of modules compiled from a code cache, so files that use import() are compiled anew.
const sources = new Map<string, { text: string; cachedData?: Buffer; dynamic: boolean; format: ModuleFormat }>();
const shared = new Map<string, Promise<Record<string, unknown>>>();
let current: ((m: RunnerMessage) => void) | undefined;
// Which call a failure belongs to, told by the realm it was made in: every call has its own V8 context, so a
// promise or an error the plugin's code made carries that context's Promise.prototype or Error.prototype. A
// failure that surfaces while a later call runs (a rejection nobody handled, a callback that throws) belongs
// to the earlier call, and must not fail the later one, another user's login. (AsyncLocalStorage would also
// follow host-made promises, but enabling its promise hooks cost every call about a tenth of its CPU.)
const callOfRealm = new WeakMap<object, number>();
const REALM_PROTOTYPES = new vm.Script('[Promise.prototype, Error.prototype]');
let calls = 0;
let currentCall = 0;
/** A failure of an earlier call seen while another ran: this worker retires once that call has answered. */
let lateFailure: string | undefined;

function describeError(err: unknown): string {
  const e = err as { stack?: unknown; message?: unknown } | null;
  if (e && typeof e.stack === 'string') return e.stack;
  if (e && typeof e.message === 'string') return e.message;
  return `non-Error value thrown: ${String(err)}`;
}

// A failure outside the hook's own control flow (a callback that throws, a promise nobody awaits) fails the
// call that made it, if that call is still under way; otherwise it retires this worker (at once between calls,
// after the running call's answer during one), so that the next call starts clean.
for (const event of ['uncaughtException', 'unhandledRejection'] as const) {
  process.on(event, (err: unknown, promise?: unknown) => {
    const origin = originOf(promise) ?? originOf(err);
    if (current && (origin === undefined || origin === currentCall)) current({ type: 'error', code: 'PLUGIN_THREW', message: `uncaught: ${describeError(err)}` });
    else if (current) lateFailure ??= describeError(err);
    else process.exit(1);
  });
}

/** The call whose realm made `v` (a promise or an error), by its prototype chain; undefined if none did. */
function originOf(v: unknown): number | undefined {
  for (let p = typeof v === 'object' && v !== null ? Object.getPrototypeOf(v) as object | null : null; p; p = Object.getPrototypeOf(p) as object | null) {
    const call = callOfRealm.get(p);
    if (call !== undefined) return call;
  }
  return undefined;
}

function source(path: string): { text: string; cachedData?: Buffer; dynamic: boolean; format: ModuleFormat } {
  let s = sources.get(path);
  if (s === undefined) {
    const text = readFileSync(path, 'utf8');
    s = { text, dynamic: /\bimport\s*\(/.test(text), format: moduleFormat(path, text, packageType(dirname(path), root, outerType)) };
    sources.set(path, s);
  }
  return s;
}

/** Host-realm module (builtin or package, resolved from the importing file), shared by this worker's calls. */
function sharedModule(specifier: string, from: string): Promise<Record<string, unknown>> {
  // The message port to Gatehouse is the runner's answer channel (and would show later calls): not for plugins.
  if (specifier === 'worker_threads' || specifier === 'node:worker_threads') {
    return Promise.reject(new Error('node:worker_threads is not available to plugins'));
  }
  const target = resolveShared(specifier, from);
  let p = shared.get(target);
  if (!p) {
    p = import(target) as Promise<Record<string, unknown>>;
    shared.set(target, p);
  }
  return p;
}

/**
 * The plugin's own node_modules win; a package it does not have there comes from Gatehouse's own install, so
 * that a bundled plugin (oidc needs jose) works wherever plugins_dir is.
 */
function resolveShared(specifier: string, from: string): string {
  try {
    return import.meta.resolve(specifier, pathToFileURL(from).href);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ERR_MODULE_NOT_FOUND') throw err;
    return import.meta.resolve(specifier);
  }
}

/** Loads the plugin's module graph into `context`: its own files anew, everything else shared. */
async function load(context: vm.Context): Promise<Record<string, unknown>> {
  const modules = new Map<string, vm.Module>();
  const cjs = cjsLoader(context, { format: (p) => source(p).format, text: (p) => source(p).text });
  if (source(entry).format === 'cjs') return cjsNamespace(cjs(entry));
  const ready = new Map<vm.Module, Promise<void>>();
  const linker = (specifier: string, ref: vm.Module): Promise<vm.Module> => link(specifier, ref.identifier);
  // A module imported dynamically, possibly by several imports at once: linked and evaluated once.
  const evaluated = (m: vm.Module): Promise<void> => {
    let p = ready.get(m);
    if (!p) {
      p = (async () => {
        if (m.status === 'unlinked') await m.link(linker);
        if (m.status === 'linked') await m.evaluate();
      })();
      ready.set(m, p);
    }
    return p;
  };
  const make = (path: string): vm.Module => {
    const src = source(path);
    if (src.format === 'cjs') {
      // A CommonJS file imported by an ES module: evaluated when linked, as Node evaluates it before the importer.
      const ns = cjsNamespace(cjs(path));
      const names = Object.keys(ns);
      const mod = new vm.SyntheticModule(names, function () { for (const n of names) this.setExport(n, ns[n]); }, { context, identifier: path });
      modules.set(path, mod);
      return mod;
    }
    let mod: vm.SourceTextModule;
    try {
      mod = new vm.SourceTextModule(src.text, {
        identifier: path,
        context,
        ...(src.cachedData ? { cachedData: src.cachedData } : {}),
        initializeImportMeta: (meta) => { meta.url = pathToFileURL(path).href; },
        importModuleDynamically: (async (spec: string) => {
          const m = await link(spec, path);
          await evaluated(m);
          return m;
        }) as never,
      });
    } catch (err) {
      if ((err as Error | null)?.name === 'SyntaxError') throw new SyntaxError(locateModuleSyntaxError(path, src.text, err));
      throw err;
    }
    if (!src.dynamic) src.cachedData ??= (mod as unknown as { createCachedData(): Buffer }).createCachedData();
    modules.set(path, mod);
    return mod;
  };
  const link = async (specifier: string, from: string): Promise<vm.Module> => {
    if (specifier.startsWith('.') || specifier.startsWith('/') || specifier.startsWith('file:')) {
      const path = specifier.startsWith('file:') ? fileURLToPath(specifier) : isAbsolute(specifier) ? specifier : resolve(dirname(from), specifier);
      return modules.get(path) ?? make(path);
    }
    const key = `shared:${specifier}`;
    const known = modules.get(key);
    if (known) return known;
    const ns = await sharedModule(specifier, from);
    const names = Object.keys(ns);
    const mod = new vm.SyntheticModule(names, function () { for (const n of names) this.setExport(n, ns[n]); }, { context, identifier: key });
    modules.set(key, mod);
    return mod;
  };
  const main = make(entry);
  await main.link(linker);
  await main.evaluate();
  return main.namespace as Record<string, unknown>;
}

async function pluginClass(context: vm.Context): Promise<new (configuration: string) => Record<string, unknown>> {
  const ns = await load(context);
  // CommonJS: exports.Plugin = class ..., or module.exports = class Plugin ...
  const Plugin = ns['Plugin'] ?? (typeof ns['default'] === 'function' && (ns['default'] as { name?: string }).name === 'Plugin' ? ns['default'] : undefined);
  if (typeof Plugin !== 'function' || !('prototype' in Plugin)) {
    throw new Error('the entry point does not export a class named "Plugin" (export class Plugin { ... }, or exports.Plugin = class ... in CommonJS)');
  }
  return Plugin as new (configuration: string) => Record<string, unknown>;
}

/** A stream that sends each printed line to the host over the message port, in order with the answer. */
function lines(stream: 'stdout' | 'stderr'): Writable {
  let partial = '';
  return new Writable({
    write(chunk: Buffer, _enc, cb) {
      partial += chunk.toString();
      let i: number;
      while ((i = partial.indexOf('\n')) >= 0) {
        post({ type: 'output', stream, line: partial.slice(0, i) });
        partial = partial.slice(i + 1);
      }
      cb();
    },
  });
}

const pluginConsole = new Console({ stdout: lines('stdout'), stderr: lines('stderr') });

interface CallScope {
  readonly context: vm.Context;
  /** Clears what the call left scheduled. */
  end(): void;
}

/** `process` for one call: reads fall through to the real one; writes, env included, stay with the call. */
function callProcess(): NodeJS.Process {
  const own: Record<PropertyKey, unknown> = { env: { ...process.env } };
  return new Proxy(process, {
    get: (target, key) => (key in own ? own[key] : Reflect.get(target, key, target)),
    set: (_t, key, value) => { own[key] = value; return true; },
    defineProperty: (_t, key, desc) => { own[key] = desc.value; return true; },
    deleteProperty: (_t, key) => { own[key] = undefined; return true; },
    has: (target, key) => key in own || key in target,
  });
}

function scope(): CallScope {
  const timers = new Set<NodeJS.Timeout>();
  const immediates = new Set<NodeJS.Immediate>();
  const track = <A extends unknown[]>(make: (fn: (...a: A) => void, ms?: number, ...rest: A) => NodeJS.Timeout, once: boolean) =>
    (fn: (...a: A) => void, ms?: number, ...rest: A): NodeJS.Timeout => {
      const t = make((...a: A) => {
        if (once) timers.delete(t);
        fn(...a);
      }, ms, ...rest);
      timers.add(t);
      return t;
    };
  const globals: Record<string, unknown> = {};
  for (const name of SHARED_GLOBALS) if (name in globalThis) globals[name] = (globalThis as Record<string, unknown>)[name];
  Object.assign(globals, {
    console: pluginConsole,
    process: callProcess(),
    setTimeout: track(setTimeout, true),
    setInterval: track(setInterval, false),
    clearTimeout: (t: NodeJS.Timeout) => { timers.delete(t); clearTimeout(t); },
    clearInterval: (t: NodeJS.Timeout) => { timers.delete(t); clearInterval(t); },
    setImmediate: (fn: (...a: unknown[]) => void, ...rest: unknown[]) => {
      const i = setImmediate((...a: unknown[]) => { immediates.delete(i); fn(...a); }, ...rest);
      immediates.add(i);
      return i;
    },
    clearImmediate: (i: NodeJS.Immediate) => { immediates.delete(i); clearImmediate(i); },
  });
  return {
    context: vm.createContext(globals, { name: 'plugin' }),
    end: () => {
      for (const t of timers) clearTimeout(t);
      for (const i of immediates) clearImmediate(i);
    },
  };
}

function hookNames(cls: { prototype: object }): string[] {
  const names = new Set<string>();
  for (let p: object | null = cls.prototype; p && Object.getPrototypeOf(p) !== null; p = Object.getPrototypeOf(p)) {
    for (const n of Object.getOwnPropertyNames(p)) {
      if (n !== 'constructor' && typeof Object.getOwnPropertyDescriptor(p, n)?.value === 'function') names.add(n);
    }
  }
  return [...names];
}

async function run(c: RunnerCall, s: CallScope): Promise<RunnerMessage> {
  let result: unknown;
  try {
    const Plugin = await pluginClass(s.context);
    // Arguments are built inside the plugin's realm, so that `instanceof Object` and friends hold there.
    const args = (vm.runInContext('JSON.parse', s.context) as (t: string) => unknown)(JSON.stringify(c.args));
    const instance = new Plugin(c.configuration);
    const fn = instance[c.hook];
    if (typeof fn !== 'function') return { type: 'error', code: 'PLUGIN_HOOK_MISSING', message: `the Plugin class has no method "${c.hook}"` };
    result = await (fn as (a: unknown) => unknown).call(instance, args);
  } catch (err) {
    return { type: 'error', code: 'PLUGIN_THREW', message: describeError(err) };
  }
  try {
    return { type: 'result', json: JSON.stringify(result === undefined ? null : result) };
  } catch (err) {
    return { type: 'error', code: 'PLUGIN_BAD_RESULT', message: `${c.hook} returned a value that is not JSON-serialisable: ${describeError(err)}` };
  }
}

function call(c: RunnerCall): void {
  const s = scope();
  let answered = false;
  const answer = (m: RunnerMessage): void => {
    if (answered) return;
    answered = true;
    current = undefined;
    s.end();
    if (lateFailure !== undefined) {
      // Logged with this call (the one it surfaced in); the runner ends this worker after the answer below.
      post({ type: 'output', stream: 'stderr', line: `uncaught failure of an earlier call, after it had answered (this worker retires): ${lateFailure.split('\n')[0]}` });
      post({ type: 'retire' });
    }
    // The nonce stays in this closure: plugin code never sees it, so it cannot forge a result.
    post(m.type === 'result' || m.type === 'error' ? { ...m, nonce: c.nonce } : m);
  };
  current = answer;
  currentCall = ++calls;
  for (const proto of REALM_PROTOTYPES.runInContext(s.context) as object[]) callOfRealm.set(proto, currentCall);
  void run(c, s).then(answer);
}

async function main(): Promise<void> {
  const s = scope();
  try {
    post({ type: 'ready', hooks: hookNames(await pluginClass(s.context)) });
  } catch (err) {
    post({ type: 'load_error', message: `importing the entry point failed: ${describeError(err)}` });
    return;
  } finally {
    s.end();
  }
  // One call at a time: the host sends the next call only after this one's answer.
  port.on('message', call);
}

void main();
