import { randomUUID } from 'node:crypto';
import type { JsonValue } from './contract.js';
import type { MemoryGuard } from './memory-guard.js';

// Plugin runners (their pool is in runner-pool.ts). A runner is started and imports the plugin ahead of
// time, so a hook call pays only a message round trip. Python runners (one python3 process, spec 3.1's process per call) are single
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
  | { type: 'output'; stream: 'stdout' | 'stderr'; line: string }
  /** Sent before an answer: this runner must take no further call (an earlier call failed after answering). */
  | { type: 'retire' };

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
  /** The runner asked to take no further call. */
  private retiring = false;
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
        else if (m.type === 'retire') this.retiring = true;
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
      keep = this.reusable && (a.type === 'result' || a.type === 'error') && !this.retiring;
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
    case 'retire':
      return { ok: false, code: 'PLUGIN_CRASHED', message: 'plugin runner sent an unexpected message', ms };
  }
}
