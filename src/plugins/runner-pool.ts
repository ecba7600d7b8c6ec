import { Runner, type CallContext, type CallOptions, type HookOutcome, type RunnerCall } from './runner.js';

// The pool of plugin runners of one plugin: keeps some started ahead of time, bounds the calls running at
// once, queues the rest (session_ended ahead of new logins' calls), and grows only as fast as calls need.

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
