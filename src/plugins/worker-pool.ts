import { createInterface } from 'node:readline';
import { Worker } from 'node:worker_threads';
import type { JsonValue } from './contract.js';
import type { WorkerCall, WorkerMessage } from './worker.js';

// Pre-warmed, single-use worker threads for one JavaScript plugin. A worker is spawned and the plugin module
// imported ahead of time; a hook call takes one, posts the call, reads one answer and terminates it, so every
// call gets a fresh plugin instance and fresh module state (spec 3.1) while paying only a message round trip.
// The pool refills itself in the background; when it is empty a call spawns a worker of its own.

export type HookOutcome =
  | { ok: true; value: JsonValue; ms: number }
  | { ok: false; code: 'PLUGIN_TIMEOUT' | 'PLUGIN_THREW' | 'PLUGIN_CRASHED' | 'PLUGIN_BAD_RESULT' | 'PLUGIN_HOOK_MISSING'; message: string; ms: number };

export interface PoolOptions {
  readonly entryUrl: string;
  readonly warm: number;
  readonly memoryMb: number;
  readonly env: Record<string, string | undefined>;
  /** Receives every line the plugin prints (stdout and stderr); `call` is set while a hook runs. */
  readonly onOutput: (line: string, stream: 'stdout' | 'stderr', call: CallContext | undefined) => void;
}

export interface CallContext {
  readonly sessionId: string;
  readonly hook: string;
}

const WORKER_URL = new URL('./worker.js', import.meta.url);

class SingleUseWorker {
  readonly ready: Promise<{ hooks: string[] } | { error: string }>;
  private readonly worker: Worker;
  private call: CallContext | undefined;
  private settle: ((m: WorkerMessage | { type: 'exit'; message: string }) => void) | undefined;

  constructor(opts: PoolOptions) {
    this.worker = new Worker(WORKER_URL, {
      workerData: { entryUrl: opts.entryUrl },
      env: opts.env,
      execArgv: [],
      stdout: true,
      stderr: true,
      resourceLimits: { maxOldGenerationSizeMb: opts.memoryMb },
    });
    this.worker.unref();
    for (const stream of ['stdout', 'stderr'] as const) {
      createInterface({ input: this.worker[stream], crlfDelay: Infinity })
        .on('line', (line) => opts.onOutput(line, stream, this.call));
    }
    this.ready = new Promise((resolve) => {
      const onMessage = (m: WorkerMessage): void => {
        if (m.type === 'ready') resolve({ hooks: m.hooks });
        else if (m.type === 'load_error') resolve({ error: m.message });
        else this.settle?.(m);
      };
      this.worker.on('message', onMessage);
      this.worker.on('error', (err) => {
        const message = `uncaught error in plugin: ${err.stack ?? err.message}`;
        resolve({ error: message });
        this.settle?.({ type: 'error', code: 'PLUGIN_THREW', message });
      });
      this.worker.on('exit', (code) => {
        const message = `plugin worker exited (code ${code}) before answering`;
        resolve({ error: message });
        this.settle?.({ type: 'exit', message });
      });
    });
  }

  async run(call: WorkerCall, context: CallContext, timeoutMs: number): Promise<HookOutcome> {
    const started = performance.now();
    const ms = (): number => Math.round((performance.now() - started) * 100) / 100;
    this.call = context;
    let timer: NodeJS.Timeout | undefined;
    try {
      const answer = new Promise<WorkerMessage | { type: 'exit'; message: string } | { type: 'timeout' }>((resolve) => {
        this.settle = resolve;
        timer = setTimeout(() => resolve({ type: 'timeout' }), timeoutMs);
      });
      const ready = await Promise.race([this.ready, answer]);
      if ('type' in ready) return this.outcome(ready, ms(), timeoutMs);
      if ('error' in ready) return { ok: false, code: 'PLUGIN_CRASHED', message: ready.error, ms: ms() };
      this.worker.postMessage(call);
      return this.outcome(await answer, ms(), timeoutMs);
    } finally {
      clearTimeout(timer);
      this.settle = undefined;
      // Single use: whatever happened, this instance and its module state are gone now.
      void this.worker.terminate();
    }
  }

  discard(): void {
    void this.worker.terminate();
  }

  private outcome(m: WorkerMessage | { type: 'exit'; message: string } | { type: 'timeout' }, ms: number, timeoutMs: number): HookOutcome {
    switch (m.type) {
      case 'result':
        try {
          return { ok: true, value: JSON.parse(m.json) as JsonValue, ms };
        } catch (err) {
          return { ok: false, code: 'PLUGIN_BAD_RESULT', message: `unparseable result: ${(err as Error).message}`, ms };
        }
      case 'error':
        return { ok: false, code: m.code, message: m.message, ms };
      case 'timeout':
        return { ok: false, code: 'PLUGIN_TIMEOUT', message: `no answer within ${timeoutMs} ms; plugin stopped`, ms };
      case 'exit':
      case 'load_error':
        return { ok: false, code: 'PLUGIN_CRASHED', message: m.message, ms };
      case 'ready':
        return { ok: false, code: 'PLUGIN_CRASHED', message: 'plugin worker sent an unexpected message', ms };
    }
  }
}

export class WorkerPool {
  private readonly idle: SingleUseWorker[] = [];
  private closed = false;

  constructor(private readonly opts: PoolOptions) {
    this.refill();
  }

  /** Imports the plugin once in a throwaway worker and reports its hooks, or why it cannot load. */
  static async probe(opts: PoolOptions): Promise<{ hooks: string[] } | { error: string }> {
    const w = new SingleUseWorker(opts);
    const ready = await w.ready;
    w.discard();
    return ready;
  }

  async call(call: WorkerCall, context: CallContext, timeoutMs: number): Promise<HookOutcome> {
    const worker = this.idle.shift() ?? new SingleUseWorker(this.opts);
    this.refill();
    return worker.run(call, context, timeoutMs);
  }

  /** Stops the warm workers; calls still work afterwards, each on a worker of its own. */
  close(): void {
    this.closed = true;
    for (const w of this.idle.splice(0)) w.discard();
  }

  private refill(): void {
    while (!this.closed && this.idle.length < this.opts.warm) {
      const w = new SingleUseWorker(this.opts);
      this.idle.push(w);
      // A warm worker that cannot load is dropped; the next call reports the load error itself.
      void w.ready.then((r) => {
        if ('error' in r) {
          const i = this.idle.indexOf(w);
          if (i >= 0) this.idle.splice(i, 1);
        }
      });
    }
  }
}
