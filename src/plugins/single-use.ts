import type { JsonValue } from './contract.js';

// Single-use plugin runners and their pool. A runner (a worker thread for JavaScript, a python3 process for
// Python) is started and imports the plugin ahead of time; a hook call takes one, sends the call, reads one
// answer and ends the runner, so every call gets a fresh plugin instance and fresh module state (spec 3.1)
// while paying only a message round trip. The pool refills in the background; when it is empty a call starts
// a runner of its own. Both runtimes speak the same messages, defined here.

export type RunnerMessage =
  | { type: 'ready'; hooks: string[] }
  | { type: 'load_error'; message: string }
  | { type: 'result'; json: string }
  | { type: 'error'; code: 'PLUGIN_THREW' | 'PLUGIN_BAD_RESULT' | 'PLUGIN_HOOK_MISSING'; message: string };

export interface RunnerCall {
  readonly hook: string;
  readonly configuration: string;
  readonly args: unknown;
}

export type HookOutcome =
  | { ok: true; value: JsonValue; ms: number }
  | { ok: false; code: 'PLUGIN_TIMEOUT' | 'PLUGIN_THREW' | 'PLUGIN_CRASHED' | 'PLUGIN_BAD_RESULT' | 'PLUGIN_HOOK_MISSING'; message: string; ms: number };

export interface CallContext {
  readonly sessionId: string;
  readonly hook: string;
}

/** What a runtime provides: a channel to one started runner. */
export interface Transport {
  send(call: RunnerCall): void;
  /** Ends the runner at once (a busy loop included). */
  kill(): void;
  onMessage(fn: (m: RunnerMessage) => void): void;
  /** The runner died (PLUGIN_CRASHED) or threw outside the hook's own control flow (PLUGIN_THREW). */
  onFailure(fn: (message: string, code?: 'PLUGIN_THREW' | 'PLUGIN_CRASHED') => void): void;
  /** Every line the plugin prints. */
  onOutput(fn: (line: string, stream: 'stdout' | 'stderr') => void): void;
}

export type OutputSink = (line: string, stream: 'stdout' | 'stderr', call: CallContext | undefined) => void;

type Answer = RunnerMessage | { type: 'failure'; message: string; code: 'PLUGIN_THREW' | 'PLUGIN_CRASHED' } | { type: 'timeout' };

export class SingleUse {
  readonly ready: Promise<{ hooks: string[] } | { error: string }>;
  /** Set when the runner died; a warm runner that died while idle must not be handed a call. */
  dead: string | undefined;
  private call: CallContext | undefined;
  private settle: ((m: Answer) => void) | undefined;

  constructor(private readonly transport: Transport, output: OutputSink) {
    transport.onOutput((line, stream) => output(line, stream, this.call));
    this.ready = new Promise((resolve) => {
      transport.onMessage((m) => {
        if (m.type === 'ready') resolve({ hooks: m.hooks });
        else if (m.type === 'load_error') resolve({ error: m.message });
        else this.settle?.(m);
      });
      transport.onFailure((message, code = 'PLUGIN_CRASHED') => {
        this.dead ??= message;
        resolve({ error: message });
        this.settle?.({ type: 'failure', message, code });
      });
    });
  }

  async run(call: RunnerCall, context: CallContext, timeoutMs: number): Promise<HookOutcome> {
    const started = performance.now();
    const ms = (): number => Math.round((performance.now() - started) * 100) / 100;
    this.call = context;
    let timer: NodeJS.Timeout | undefined;
    try {
      const answer = new Promise<Answer>((resolve) => {
        this.settle = resolve;
        timer = setTimeout(() => resolve({ type: 'timeout' }), timeoutMs);
      });
      const ready = await Promise.race([this.ready, answer]);
      if ('type' in ready) return outcome(ready, ms(), timeoutMs);
      if ('error' in ready) return { ok: false, code: 'PLUGIN_CRASHED', message: ready.error, ms: ms() };
      this.transport.send(call);
      return outcome(await answer, ms(), timeoutMs);
    } finally {
      clearTimeout(timer);
      this.settle = undefined;
      // Single use: whatever happened, this instance and its module state are gone now.
      this.transport.kill();
    }
  }

  discard(): void {
    this.transport.kill();
  }
}

function outcome(m: Answer, ms: number, timeoutMs: number): HookOutcome {
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
    case 'failure':
      return { ok: false, code: m.code, message: m.message, ms };
    case 'load_error':
      return { ok: false, code: 'PLUGIN_CRASHED', message: m.message, ms };
    case 'ready':
      return { ok: false, code: 'PLUGIN_CRASHED', message: 'plugin runner sent an unexpected message', ms };
  }
}

export class RunnerPool {
  private readonly idle: SingleUse[] = [];
  private readonly busy = new Set<SingleUse>();
  private readonly waiting: (() => void)[] = [];
  private closed = false;

  /**
   * `maxActive` bounds the calls running at once (each holds a thread or a process); further calls wait for a
   * place, and that wait counts against their timeout.
   */
  constructor(private readonly start: () => SingleUse, private readonly warm: number, private readonly maxActive: number) {
    this.refill();
  }

  async call(call: RunnerCall, context: CallContext, timeoutMs: number): Promise<HookOutcome> {
    const queued = performance.now();
    if (this.busy.size >= this.maxActive) {
      const admitted = await new Promise<boolean>((resolve) => {
        const timer = setTimeout(() => {
          const i = this.waiting.indexOf(go);
          if (i >= 0) this.waiting.splice(i, 1);
          resolve(false);
        }, timeoutMs);
        const go = (): void => { clearTimeout(timer); resolve(true); };
        this.waiting.push(go);
      });
      if (!admitted) {
        return { ok: false, code: 'PLUGIN_TIMEOUT', message: `waited ${timeoutMs} ms for one of ${this.maxActive} plugin runners`, ms: timeoutMs };
      }
    }
    let runner = this.idle.shift();
    while (runner?.dead) runner = this.idle.shift();
    runner ??= this.start();
    this.refill();
    this.busy.add(runner);
    try {
      return await runner.run(call, context, Math.max(timeoutMs - (performance.now() - queued), 1));
    } finally {
      this.busy.delete(runner);
      this.waiting.shift()?.();
    }
  }

  /** Stops the warm runners; calls still work afterwards, each on a runner of its own. With `killBusy`, calls
   * under way are stopped too (process shutdown). */
  close(killBusy = false): void {
    this.closed = true;
    for (const r of this.idle.splice(0)) r.discard();
    if (killBusy) for (const r of this.busy) r.discard();
  }

  private refill(): void {
    while (!this.closed && this.idle.length < this.warm) {
      const r = this.start();
      this.idle.push(r);
      // A warm runner that cannot load is dropped; the next call reports the load error itself.
      void r.ready.then((x) => {
        if ('error' in x) {
          const i = this.idle.indexOf(r);
          if (i >= 0) this.idle.splice(i, 1);
        }
      });
    }
  }
}
