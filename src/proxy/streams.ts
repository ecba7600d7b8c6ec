import type { Readable, Writable } from 'node:stream';

/** Channel errors end in 'close', which the bridges handle; without a listener they would end the process. */
export const ignore = (): void => undefined;

export interface ByteCounts {
  toTarget: number;
  toClient: number;
}

/** Adds relayed bytes to every one of `totals` (the channel's and the session's). */
export function byteCounters(...totals: ByteCounts[]): { toTarget: (n: number) => void; toClient: (n: number) => void } {
  return {
    toTarget: (n) => { for (const t of totals) t.toTarget += n; },
    toClient: (n) => { for (const t of totals) t.toClient += n; },
  };
}

/** Resolves once everything written so far has left the stream's buffer (before a channel is closed). */
export function flushed(w: Writable): Promise<void> {
  if (!w.writable || w.writableLength === 0) return Promise.resolve();
  return new Promise((resolve) => w.write(Buffer.alloc(0), () => resolve()));
}

/** A second reader of a pump's data (a session recording): false asks the pump to wait for its 'drain'. */
export interface Tap {
  write(chunk: Buffer): boolean;
  once(event: 'drain', fn: () => void): unknown;
}

/**
 * Copies one stream into another with backpressure and counts the bytes: what `src.pipe(dst)` does, with the
 * reader paused while the writer's buffer is full. A proxied session holds three of these for as long as it
 * lives, and pipe() costs about a kilobyte each in listeners and closures; this holds two listeners.
 */
export class Pump {
  /** Buffers (dst, tap) that must drain before the reader resumes. */
  private waiting = 0;
  private stopped = false;

  constructor(
    private readonly src: Readable,
    private readonly dst: Writable,
    private readonly count: (bytes: number) => void,
    /** Ends `dst` when `src` ends (the client's EOF becomes the target's EOF). */
    endDst: boolean,
    private readonly tap?: Tap,
  ) {
    src.on('data', this.onData);
    if (endDst) src.once('end', this.onEnd);
  }

  /** Stops copying (the writer is gone). */
  stop(): void {
    this.stopped = true;
    this.src.off('data', this.onData);
    this.src.off('end', this.onEnd);
    this.dst.off('drain', this.onDrain);
  }

  private readonly onData = (chunk: Buffer): void => {
    this.count(chunk.length);
    if (!this.dst.write(chunk)) {
      this.waiting++;
      this.dst.once('drain', this.onDrain);
    }
    if (this.tap && !this.tap.write(chunk)) {
      this.waiting++;
      this.tap.once('drain', this.onDrain);
    }
    if (this.waiting > 0) this.src.pause();
  };

  private readonly onDrain = (): void => {
    if (--this.waiting === 0 && !this.stopped) this.src.resume();
  };

  private readonly onEnd = (): void => {
    this.dst.end();
  };
}
