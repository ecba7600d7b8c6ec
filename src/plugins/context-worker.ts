import { Console } from 'node:console';
import { readFileSync } from 'node:fs';
import { Writable } from 'node:stream';
import { builtinModules, createRequire } from 'node:module';
import { dirname, isAbsolute, resolve } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import vm from 'node:vm';
import { parentPort, workerData } from 'node:worker_threads';
import type { RunnerCall, RunnerMessage } from './runner.js';

// Runs JavaScript plugin hook calls inside a worker thread, one call at a time, each in a fresh V8 context:
// the plugin's entry module and the modules it imports from its own folder are evaluated anew for every call,
// with a new global object, so no global or module state survives from one call to the next (spec 3.1) while
// a call costs well under a millisecond instead of a new thread. Node's built-in modules and packages from
// node_modules are shared by the calls of one worker. The host ends the worker when a call overruns its
// timeout, which stops even a busy loop.

const port = parentPort!;
const { entry } = workerData as { entry: string };
const post = (m: RunnerMessage): void => port.postMessage(m);

// The Node globals a plugin may expect; the rest of a context's globals are the language's own.
const NODE_GLOBALS = [
  'console', 'process', 'Buffer', 'setTimeout', 'clearTimeout', 'setInterval', 'clearInterval', 'setImmediate',
  'clearImmediate', 'queueMicrotask', 'structuredClone', 'URL', 'URLSearchParams', 'TextEncoder', 'TextDecoder',
  'AbortController', 'AbortSignal', 'EventTarget', 'Event', 'fetch', 'Headers', 'Request', 'Response', 'FormData',
  'Blob', 'atob', 'btoa', 'crypto', 'performance',
] as const;

const sources = new Map<string, { text: string; cachedData?: Buffer }>();
const shared = new Map<string, Promise<Record<string, unknown>>>();

function describeError(err: unknown): string {
  const e = err as { stack?: unknown; message?: unknown } | null;
  if (e && typeof e.stack === 'string') return e.stack;
  if (e && typeof e.message === 'string') return e.message;
  return `non-Error value thrown: ${String(err)}`;
}

function source(path: string): { text: string; cachedData?: Buffer } {
  let s = sources.get(path);
  if (!s) {
    s = { text: readFileSync(path, 'utf8') };
    sources.set(path, s);
  }
  return s;
}

/** Host-realm module (builtin or package), shared by every call of this worker. */
function sharedModule(specifier: string, from: string): Promise<Record<string, unknown>> {
  const isBuiltin = specifier.startsWith('node:') || builtinModules.includes(specifier);
  const target = isBuiltin ? specifier : pathToFileURL(createRequire(from).resolve(specifier)).href;
  let p = shared.get(target);
  if (!p) {
    p = import(target) as Promise<Record<string, unknown>>;
    shared.set(target, p);
  }
  return p;
}

/** Loads the plugin's module graph into `context`: its own files anew, everything else shared. */
async function load(context: vm.Context): Promise<vm.SourceTextModule> {
  const modules = new Map<string, vm.Module>();
  const make = (path: string): vm.SourceTextModule => {
    const s = source(path);
    const mod = new vm.SourceTextModule(s.text, {
      identifier: path,
      context,
      ...(s.cachedData ? { cachedData: s.cachedData } : {}),
      initializeImportMeta: (meta) => { meta.url = pathToFileURL(path).href; },
      importModuleDynamically: (async (spec: string) => {
        const m = await link(spec, path);
        if (m.status === 'unlinked') await m.link((sp, ref) => link(sp, ref.identifier));
        if (m.status === 'linked') await m.evaluate();
        return m;
      }) as never,
    });
    s.cachedData ??= (mod as unknown as { createCachedData(): Buffer }).createCachedData();
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
  const root = make(entry);
  await root.link((s, ref) => link(s, ref.identifier));
  await root.evaluate();
  return root;
}

async function pluginClass(context: vm.Context): Promise<new (configuration: string) => Record<string, unknown>> {
  const mod = await load(context);
  const Plugin = (mod.namespace as Record<string, unknown>)['Plugin'];
  if (typeof Plugin !== 'function' || !('prototype' in Plugin)) {
    throw new Error('the entry point does not export a class named "Plugin" (export class Plugin { ... })');
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
    final(cb) {
      if (partial) post({ type: 'output', stream, line: partial });
      cb();
    },
  });
}

const pluginConsole = new Console({ stdout: lines('stdout'), stderr: lines('stderr') });

function freshContext(): vm.Context {
  const globals: Record<string, unknown> = {};
  for (const name of NODE_GLOBALS) if (name in globalThis) globals[name] = (globalThis as Record<string, unknown>)[name];
  globals['console'] = pluginConsole;
  return vm.createContext(globals, { name: 'plugin' });
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

async function call(c: RunnerCall): Promise<RunnerMessage> {
  let result: unknown;
  try {
    const context = freshContext();
    const Plugin = await pluginClass(context);
    // Arguments are built inside the plugin's realm, so that `instanceof Object` and friends hold there.
    const args = (vm.runInContext('JSON.parse', context) as (s: string) => unknown)(JSON.stringify(c.args));
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

async function main(): Promise<void> {
  try {
    post({ type: 'ready', hooks: hookNames(await pluginClass(freshContext())) });
  } catch (err) {
    post({ type: 'load_error', message: `importing the entry point failed: ${describeError(err)}` });
    return;
  }
  // One call at a time: the host sends the next call only after this one's answer.
  port.on('message', (c: RunnerCall) => void call(c).then(post));
}

void main();
