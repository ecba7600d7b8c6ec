// Bounds the memory JavaScript plugins take outside their V8 heap (Buffers, ArrayBuffers, native memory):
// worker threads share the process, resourceLimits cover only the heap, and process.memoryUsage().external
// counts the main thread's isolate only. So while JavaScript hook calls run, the process's resident size is
// sampled against what it was when they started; grown by more than the bound, the call that has been running
// longest (the one most likely to be allocating: a normal call takes well under a millisecond) is ended,
// which frees its worker's memory. Then a pause lets that memory go before the next sample.
// Reading the resident size costs a /proc read (tens of microseconds), and at hundreds of calls a second that
// showed in the login rate: so a sample is taken only while some call has run for a whole sampling period (a
// runaway allocation does; a normal call has long returned), and a baseline younger than BASELINE_MS is reused.

const SAMPLE_MS = 20;
const AFTER_KILL_MS = 250;
const BASELINE_MS = 1_000;

export interface GuardedCall {
  readonly startedAt: number;
  /** Ends the call with PLUGIN_MEMORY_LIMIT and its runner. */
  stop(message: string): void;
}

export type MemorySampler = () => number;

export const residentMemory: MemorySampler = () => process.memoryUsage.rss();

export class MemoryGuard {
  private readonly calls = new Set<GuardedCall>();
  private timer: NodeJS.Timeout | undefined;
  private quietUntil = 0;
  /** Resident size when the calls under watch began. */
  private baseline = 0;
  private baselineAt = -Infinity;

  constructor(private readonly limitBytes: number, private readonly sample: MemorySampler = residentMemory) {}

  /** Watches `call` until the returned function is called. */
  watch(call: GuardedCall): () => void {
    if (this.calls.size === 0) {
      const now = performance.now();
      if (now - this.baselineAt > BASELINE_MS) {
        this.baseline = this.sample();
        this.baselineAt = now;
      }
    }
    this.calls.add(call);
    this.timer ??= setInterval(() => this.check(), SAMPLE_MS);
    this.timer.unref();
    return () => {
      this.calls.delete(call);
      if (this.calls.size === 0) {
        clearInterval(this.timer);
        this.timer = undefined;
      }
    };
  }

  private check(): void {
    const now = performance.now();
    if (now < this.quietUntil) return;
    let oldest: GuardedCall | undefined;
    for (const c of this.calls) if (!oldest || c.startedAt < oldest.startedAt) oldest = c;
    if (!oldest || now - oldest.startedAt < SAMPLE_MS) return;
    const used = this.sample() - this.baseline;
    if (used <= this.limitBytes) return;
    this.calls.delete(oldest);
    this.quietUntil = now + AFTER_KILL_MS;
    oldest.stop(`Gatehouse grew by ${Math.round(used / 1048576)} MB during JavaScript plugin calls (plugin_pool.js_external_mb is ${Math.round(this.limitBytes / 1048576)}); plugin stopped`);
  }
}
