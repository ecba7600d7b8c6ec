import { Worker } from 'node:worker_threads';
import type { PackageType } from './module-format.js';
import { boundedLines } from './output-lines.js';
import type { RunnerMessage, Transport } from './runner.js';

// JavaScript and TypeScript plugins run in worker threads (context-worker.ts): off the main event loop, with a
// heap limit, each call in a fresh V8 context; terminate() stops even a busy loop. Worker threads are fault
// isolation, not a sandbox: a plugin can still read files and the environment.

const WORKER_URL = new URL('./context-worker.js', import.meta.url);

export interface ContextWorkerOptions {
  readonly entry: string;
  /** The folder the plugin runs from, and the package "type" in effect above it (module-format.ts). */
  readonly root: string;
  readonly outerType: PackageType;
  readonly memoryMb: number;
  readonly env: Record<string, string | undefined>;
  readonly maxLine: number;
}

export function contextTransport(opts: ContextWorkerOptions): Transport {
  const worker = new Worker(WORKER_URL, {
    workerData: { entry: opts.entry, root: opts.root, outerType: opts.outerType },
    env: opts.env,
    // vm.SourceTextModule and import.meta.resolve(specifier, parent) are behind flags on Node 20; their
    // "experimental" notices would land in the plugin log.
    execArgv: ['--experimental-vm-modules', '--experimental-import-meta-resolve', '--no-warnings'],
    stdout: true,
    stderr: true,
    // V8's default young generation stays: capping it at 4 MB kept ~45 MB less resident after a burst of
    // 1,000 logins, but cost about a tenth of the login rate with 8 parallel clients (more promotions of
    // each call's context).
    resourceLimits: { maxOldGenerationSizeMb: opts.memoryMb },
  });
  worker.unref();
  return {
    send: (call) => worker.postMessage(call),
    kill: () => void worker.terminate(),
    onMessage: (fn) => worker.on('message', (m: RunnerMessage) => fn(m)),
    onFailure: (fn) => {
      worker.on('error', (err) => fn(`uncaught error in plugin: ${err.stack ?? err.message}`, 'PLUGIN_THREW'));
      worker.on('exit', (code) => fn(`plugin worker exited (code ${code})`, 'PLUGIN_CRASHED'));
    },
    onOutput: (fn, onBytes) => {
      for (const stream of ['stdout', 'stderr'] as const) {
        boundedLines(worker[stream], opts.maxLine, (line, bytes) => fn(line, stream, bytes), onBytes);
      }
    },
  };
}
