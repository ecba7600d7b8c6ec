import { createInterface } from 'node:readline';
import { Worker } from 'node:worker_threads';
import type { RunnerMessage, Transport } from './single-use.js';

// JavaScript and TypeScript plugins run in worker threads: off the main event loop, with their own module
// state and heap limit, and terminate() stops even a busy loop. They are fault isolation, not a sandbox.

const WORKER_URL = new URL('./worker.js', import.meta.url);

export interface WorkerOptions {
  readonly entryUrl: string;
  readonly memoryMb: number;
  readonly env: Record<string, string | undefined>;
}

export function workerTransport(opts: WorkerOptions): Transport {
  const worker = new Worker(WORKER_URL, {
    workerData: { entryUrl: opts.entryUrl },
    env: opts.env,
    execArgv: [],
    stdout: true,
    stderr: true,
    resourceLimits: { maxOldGenerationSizeMb: opts.memoryMb },
  });
  worker.unref();
  return {
    send: (call) => worker.postMessage(call),
    kill: () => void worker.terminate(),
    onMessage: (fn) => worker.on('message', (m: RunnerMessage) => fn(m)),
    onFailure: (fn) => {
      worker.on('error', (err) => fn(`uncaught error in plugin: ${err.stack ?? err.message}`, 'PLUGIN_THREW'));
      worker.on('exit', (code) => fn(`plugin worker exited (code ${code}) before answering`, 'PLUGIN_CRASHED'));
    },
    onOutput: (fn) => {
      for (const stream of ['stdout', 'stderr'] as const) {
        createInterface({ input: worker[stream], crlfDelay: Infinity }).on('line', (line) => fn(line, stream));
      }
    },
  };
}
