import { parentPort, workerData } from 'node:worker_threads';
import type { RunnerCall, RunnerMessage } from './single-use.js';

// Runs inside a single-use worker thread: imports one plugin module, reports which hooks its `Plugin`
// class has, then waits for exactly one call: `new Plugin(configuration)[hook](args)`. The result goes
// back as JSON text, so anything that is not JSON-serialisable is caught here. The host terminates the
// worker after the answer (or when the call overruns its timeout), so no state survives between calls.

const port = parentPort!;
const { entryUrl } = workerData as { entryUrl: string };
const post = (m: RunnerMessage): void => port.postMessage(m);

function describeError(err: unknown): string {
  if (err instanceof Error) return err.stack ?? `${err.name}: ${err.message}`;
  return `non-Error value thrown: ${String(err)}`;
}

function hookNames(cls: { prototype: object }): string[] {
  const names = new Set<string>();
  for (let p: object | null = cls.prototype; p && p !== Object.prototype; p = Object.getPrototypeOf(p)) {
    for (const n of Object.getOwnPropertyNames(p)) {
      if (n !== 'constructor' && typeof Object.getOwnPropertyDescriptor(p, n)?.value === 'function') names.add(n);
    }
  }
  return [...names];
}

async function main(): Promise<void> {
  let Plugin: unknown;
  try {
    const mod = (await import(entryUrl)) as Record<string, unknown>;
    Plugin = mod['Plugin'];
  } catch (err) {
    post({ type: 'load_error', message: `importing the entry point failed: ${describeError(err)}` });
    return;
  }
  if (typeof Plugin !== 'function' || !('prototype' in Plugin)) {
    post({ type: 'load_error', message: 'the entry point does not export a class named "Plugin" (export class Plugin { ... })' });
    return;
  }
  const PluginClass = Plugin as new (configuration: string) => Record<string, unknown>;
  post({ type: 'ready', hooks: hookNames(PluginClass) });

  port.once('message', async (call: RunnerCall) => {
    let result: unknown;
    try {
      const instance = new PluginClass(call.configuration);
      const fn = instance[call.hook];
      if (typeof fn !== 'function') {
        post({ type: 'error', code: 'PLUGIN_HOOK_MISSING', message: `the Plugin class has no method "${call.hook}"` });
        return;
      }
      result = await (fn as (args: unknown) => unknown).call(instance, call.args);
    } catch (err) {
      post({ type: 'error', code: 'PLUGIN_THREW', message: describeError(err) });
      return;
    }
    let json: string;
    try {
      json = JSON.stringify(result === undefined ? null : result);
    } catch (err) {
      post({ type: 'error', code: 'PLUGIN_BAD_RESULT', message: `${call.hook} returned a value that is not JSON-serialisable: ${(err as Error).message}` });
      return;
    }
    post({ type: 'result', json });
  });
}

void main();
