import { randomUUID } from 'node:crypto';
import type { JsonValue } from './contract.js';
import type { MemoryGuard } from './memory-guard.js';

// Plugin runners and their pool. A runner is started and imports the plugin ahead of time, so a hook call
// pays only a message round trip. Python runners (one python3 process, spec 3.1's process per call) are single
// use: ended after their one call. JavaScript runners (a worker thread that evaluates the plugin in a fresh V8
// context per call) are reused, and ended only when a call overruns or the runner dies. Both runtimes speak
// the messages defined here.
// Every call carries a fresh random nonce that the runner's host code puts in its answer: a frame without it
// (written by the plugin itself, or by a helper it started) is refused, never taken for the hook's result.
// What a plugin prints is bounded per line, per call (bytes: the call fails with PLUGIN_OUTPUT_LIMIT) and in
// lines logged per call.

export type RunnerMessage =
  | { type: 'ready'; hooks: string[] }
  | { type: 'load_error'; message: string }
  | { type: 'result'; json: string; nonce?: string }
  | { type: 'error'; code: 'PLUGIN_THREW' | 'PLUGIN_BAD_RESULT' | 'PLUGIN_HOOK_MISSING' | 'PLUGIN_MEMORY_LIMIT'; message: string; nonce?: string }
  /** A line the plugin printed, sent in order with the answer so that it is logged with the right call. */
  | { type: 'output'; stream: 'stdout' | 'stderr'; line: string };

export interface RunnerCall {
  readonly hook: string;
  readonly configuration: string;
  readonly args: unknown;
  /** Set by Runner.run: the answer must carry it. */
  readonly nonce?: string;
}

export type FailureCode = 'PLUGIN_THREW' | 'PLUGIN_CRASHED' | 'PLUGIN_BAD_RESULT' | 'PLUGIN_OUTPUT_LIMIT' | 'PLUGIN_MEMORY_LIMIT';

export interface RunnerLimits {
  readonly outputLineBytes: number;
  readonly outputCallBytes: number;
  readonly outputCallLines: number;
  /** JavaScript runners: bounds the process memory outside the V8 heap while their calls run. */
  readonly guard?: MemoryGuard;
}

const DEFAULT_LIMITS: RunnerLimits = { outputLineBytes: 4096, outputCallBytes: 1024 * 1024, outputCallLines: 200 };

export type HookOutcome =
  | { ok: true; value: JsonValue; ms: number }
  | {
    ok: false; code: 'PLUGIN_TIMEOUT' | 'PLUGIN_HOOK_MISSING' | FailureCode; message: string; ms: number;
    /** The hook never reached the plugin (no runner in time, or the runner could not start): safe to retry. */
    notRun?: true;
  };

export interface CallOptions {
  /** Served before the calls waiting without it (session_ended: it must not be starved by new logins). */
  readonly priority?: boolean;
  /**
   * How long the call may wait for a runner, on top of its own timeout. Without it the wait counts against
   * the call's timeout.
   */
  readonly queueMs?: number;
}

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
  onOutput(fn: (line: string, stream: 'stdout' | 'stderr', bytes?: number) => void, onBytes?: (n: number) => void): void;
}

export type OutputSink = (line: string, stream: 'stdout' | 'stderr', call: CallContext | undefined) => void;

type Answer = RunnerMessage | { type: 'failure'; message: string; code: FailureCode } | { type: 'timeout' };

/** A runner that has not loaded the plugin by then is ended (a module-level network call that never returns). */
const LOAD_TIMEOUT_MS = 30_000;

export class Runner {
  readonly ready: Promise<{ hooks: string[] } | { error: string }>;
  /** Set when the runner died or was ended; it must not be handed another call. */
  dead: string | undefined;
  idleSince = 0;
  /** When the call under way started (performance.now()). */
  callStarted = 0;
  private call: CallContext | undefined;
  private settle: ((m: Answer) => void) | undefined;
  private nonce: string | undefined;
  /** What the call under way has printed so far. */
  private printed = { bytes: 0, lines: 0, dropped: 0 };

  constructor(
    private readonly transport: Transport, private readonly output: OutputSink, readonly reusable: boolean, loadTimeoutMs = LOAD_TIMEOUT_MS,
    private readonly limits: RunnerLimits = DEFAULT_LIMITS,
  ) {
    // Bytes are counted as they arrive, so that one endless line trips the bound before the answer comes.
    transport.onOutput((line, stream, bytes) => this.printedLine(line, stream, bytes), (n) => this.countBytes(n));
    this.ready = new Promise((resolve) => {
      const loaded = (v: { hooks: string[] } | { error: string }): void => {
        clearTimeout(loading);
        resolve(v);
      };
      const loading = setTimeout(() => {
        const message = `plugin did not finish loading within ${loadTimeoutMs / 1000} s`;
        this.dead ??= message;
        loaded({ error: message });
        transport.kill();
      }, loadTimeoutMs);
      loading.unref();
      transport.onMessage((m) => {
        if (m.type === 'output') {
          this.countBytes(Buffer.byteLength(m.line) + 1);
          this.printedLine(m.line, m.stream);
        }
        else if (m.type === 'ready') loaded({ hooks: m.hooks });
        else if (m.type === 'load_error') loaded({ error: m.message });
        // Only a result needs the nonce: a forged error could only deny, which the plugin can do anyway.
        else if (m.type === 'result' && (m.nonce !== this.nonce || this.nonce === undefined)) {
          this.settle?.({ type: 'failure', code: 'PLUGIN_BAD_RESULT', message: 'a result frame without the call\'s nonce: not written by Gatehouse\'s runner; plugin stopped' });
        } else this.settle?.(m);
      });
      transport.onFailure((message, code = 'PLUGIN_CRASHED') => {
        this.dead ??= message;
        loaded({ error: message });
        this.settle?.({ type: 'failure', message, code });
      });
    });
  }

  /** A runner that could not even be started: it answers its one call with the reason. */
  static failed(message: string): Runner {
    return new Runner({
      send: () => undefined,
      kill: () => undefined,
      onMessage: () => undefined,
      onFailure: (fn) => queueMicrotask(() => fn(message, 'PLUGIN_CRASHED')),
      onOutput: () => undefined,
    }, () => undefined, false);
  }

  async run(call: RunnerCall, context: CallContext, timeoutMs: number): Promise<HookOutcome> {
    const started = performance.now();
    const ms = (): number => Math.round((performance.now() - started) * 100) / 100;
    this.callStarted = started;
    this.call = context;
    this.printed = { bytes: 0, lines: 0, dropped: 0 };
    let timer: NodeJS.Timeout | undefined;
    let keep = false;
    const unwatch = this.limits.guard?.watch({
      startedAt: started,
      stop: (message) => this.settle?.({ type: 'failure', code: 'PLUGIN_MEMORY_LIMIT', message }),
    });
    try {
      const answer = new Promise<Answer>((resolve) => {
        this.settle = resolve;
        timer = setTimeout(() => resolve({ type: 'timeout' }), timeoutMs);
      });
      const ready = await Promise.race([this.ready, answer]);
      if ('type' in ready) return outcome(ready, ms(), timeoutMs);
      if ('error' in ready) return { ok: false, code: 'PLUGIN_CRASHED', message: ready.error, ms: ms(), notRun: true };
      this.nonce = randomUUID();
      this.transport.send({ ...call, nonce: this.nonce });
      const a = await answer;
      // Only a runner that answered in time may take another call.
      keep = this.reusable && (a.type === 'result' || a.type === 'error');
      return outcome(a, ms(), timeoutMs);
    } finally {
      unwatch?.();
      clearTimeout(timer);
      this.settle = undefined;
      this.nonce = undefined;
      if (this.printed.dropped > 0) {
        this.output(`[${this.printed.dropped} more lines of plugin output in this call not logged (plugin_pool.output_call_lines)]`, 'stderr', context);
      }
      // A single-use runner's last lines may still be on their way through its pipes: they stay with this call.
      if (this.reusable) this.call = undefined;
      if (!keep) this.discard();
    }
  }

  /** One line the plugin printed: logged (cut to outputLineBytes), counted, or the end of the call. */
  private countBytes(n: number): void {
    const p = this.printed;
    const before = p.bytes;
    p.bytes += n;
    if (p.bytes > this.limits.outputCallBytes && before <= this.limits.outputCallBytes) {
      const message = `plugin printed more than ${this.limits.outputCallBytes} bytes in one call (plugin_pool.output_call_bytes); plugin stopped`;
      if (this.settle) this.settle({ type: 'failure', code: 'PLUGIN_OUTPUT_LIMIT', message });
      else this.discard();
    }
  }

  private printedLine(line: string, stream: 'stdout' | 'stderr', bytes = Buffer.byteLength(line)): void {
    const p = this.printed;
    if (p.bytes > this.limits.outputCallBytes) return;
    if (++p.lines > this.limits.outputCallLines) {
      p.dropped++;
      return;
    }
    const max = this.limits.outputLineBytes;
    this.output(line.length > max ? `${line.slice(0, max)}... [line cut: ${bytes} bytes]` : line, stream, this.call);
  }

  discard(): void {
    this.dead ??= 'ended';
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
    case 'output':
      return { ok: false, code: 'PLUGIN_CRASHED', message: 'plugin runner sent an unexpected message', ms };
  }
}

export interface PoolOptions {
  /** Runners kept started and idle, ready for a call. */
  readonly warm: number;
  /** Calls running at once; further calls wait for a place, and the wait counts against their timeout. */
  readonly maxActive: number;
  /** Reusable runners idle longer than this beyond `warm` are ended. */
  readonly idleMs?: number;
  /** Runners take call after call (JavaScript) rather than one each (Python). */
  readonly reusable: boolean;
}

interface Waiter {
  readonly take: (r: Runner) => void;
  readonly priority: boolean;
}

// How the pool grows when calls wait: up to BURST runners at once for a burst of quick calls (a JavaScript
// call takes well under a millisecond, so a few runners serve hundreds of logins per second; more threads
// would only compete for the CPU and hold memory); beyond that only when every busy runner has been on its
// call for SLOW_MS, i.e. the plugin waits on the network. At most MAX_STARTING runners start at a time.
const MAX_STARTING = 2;
const BURST = 4;
const SLOW_MS = 500;
const CHECK_MS = 10;

export class RunnerPool {
  private readonly idle: Runner[] = [];
  private readonly busy = new Set<Runner>();
  private readonly queue: Waiter[] = [];
  private starting = 0;
  private closed = false;
  private trimTimer: NodeJS.Timeout | undefined;

  constructor(private readonly start: () => Runner, private readonly opts: PoolOptions) {
    this.refill();
  }

  async call(call: RunnerCall, context: CallContext, timeoutMs: number, opts: CallOptions = {}): Promise<HookOutcome> {
    const queued = performance.now();
    const waitMs = opts.queueMs ?? timeoutMs;
    const runner = await this.acquire(waitMs, opts.priority ?? false);
    if (!runner) {
      return { ok: false, code: 'PLUGIN_TIMEOUT', message: `waited ${Math.round(waitMs)} ms for a plugin runner (${this.opts.maxActive} at most)`, ms: waitMs, notRun: true };
    }
    try {
      const runMs = opts.queueMs !== undefined ? timeoutMs : Math.max(timeoutMs - (performance.now() - queued), 1);
      return await runner.run(call, context, runMs);
    } finally {
      this.busy.delete(runner);
      this.release(runner);
    }
  }

  /** Stops the idle runners; calls still work afterwards, each on a runner of its own. With `killBusy`, calls
   * under way are stopped too (process shutdown). */
  close(killBusy = false): void {
    this.closed = true;
    clearTimeout(this.trimTimer);
    for (const r of this.idle.splice(0)) r.discard();
    if (killBusy) for (const r of this.busy) r.discard();
  }

  private acquire(timeoutMs: number, priority: boolean): Promise<Runner | undefined> {
    const ready = this.takeIdle();
    if (ready) return Promise.resolve(ready);
    return new Promise((resolve) => {
      const waiter: Waiter = {
        priority,
        take: (r) => {
          clearTimeout(timer);
          clearInterval(watch);
          this.busy.add(r);
          resolve(r);
        },
      };
      const timer = setTimeout(() => {
        clearInterval(watch);
        const i = this.queue.indexOf(waiter);
        if (i >= 0) this.queue.splice(i, 1);
        resolve(undefined);
      }, timeoutMs);
      const watch = setInterval(() => {
        const now = performance.now();
        if (this.busy.size + this.starting < BURST || [...this.busy].every((r) => now - r.callStarted > SLOW_MS)) this.grow();
      }, CHECK_MS);
      watch.unref();
      // Priority calls go after the priority calls already waiting, before every other call.
      const at = priority ? this.queue.findIndex((w) => !w.priority) : -1;
      if (at >= 0) this.queue.splice(at, 0, waiter);
      else this.queue.push(waiter);
      if (this.busy.size + this.starting < BURST) this.grow();
    });
  }

  private takeIdle(): Runner | undefined {
    for (let r = this.idle.pop(); r; r = this.idle.pop()) {
      if (r.dead) continue;
      this.busy.add(r);
      this.refill();
      return r;
    }
    return undefined;
  }

  /** Starts another runner when calls are waiting and the limits allow it. */
  private grow(): void {
    while (this.queue.length > this.starting && this.starting < MAX_STARTING && this.busy.size + this.starting < this.opts.maxActive) {
      this.launch();
    }
  }

  private launch(): void {
    let r: Runner;
    try {
      r = this.start();
    } catch (err) {
      // No thread or process to be had (out of memory, out of file descriptors): say so to a waiting call.
      r = Runner.failed(`cannot start a plugin runner: ${(err as Error).message}`);
    }
    this.starting++;
    void r.ready.then(() => {
      this.starting--;
      if (r.dead) {
        // A runner that cannot load answers the next waiting call with the load error itself.
        const w = this.queue.shift();
        if (w) w.take(r);
        this.grow();
        return;
      }
      this.release(r);
    });
  }

  private release(r: Runner): void {
    if (!r.dead) {
      // Calls still waiting after close() (sessions on a retired configuration) are served all the same.
      const w = this.queue.shift();
      if (w) return w.take(r);
      if (this.closed) {
        r.discard();
      } else {
        r.idleSince = performance.now();
        this.idle.push(r);
        this.scheduleTrim();
      }
    }
    this.refill();
    this.grow();
  }

  /**
   * Keeps `warm` runners ready, so that the next call does not wait for one: single-use runners idle or
   * starting; reusable ones in all, since a busy one is back in a moment.
   */
  private refill(): void {
    const have = (): number => this.idle.length + this.starting + (this.opts.reusable ? this.busy.size : 0);
    while (!this.closed && have() < this.opts.warm && this.busy.size + this.starting < this.opts.maxActive) {
      this.launch();
    }
  }

  /** Ends reusable runners that stay idle beyond the warm ones for longer than `idleMs`. */
  private scheduleTrim(): void {
    if (this.trimTimer || this.idle.length <= this.opts.warm) return;
    const idleMs = this.opts.idleMs ?? 30_000;
    this.trimTimer = setTimeout(() => {
      this.trimTimer = undefined;
      const limit = performance.now() - idleMs;
      while (this.idle.length > this.opts.warm && this.idle[0]!.idleSince <= limit) this.idle.shift()!.discard();
      this.scheduleTrim();
    }, idleMs);
    this.trimTimer.unref();
  }
}
