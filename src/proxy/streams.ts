import type { Writable } from 'node:stream';

/** Resolves once everything written so far has left the stream's buffer (before a channel is closed). */
export function flushed(w: Writable): Promise<void> {
  if (!w.writable || w.writableLength === 0) return Promise.resolve();
  return new Promise((resolve) => w.write(Buffer.alloc(0), () => resolve()));
}
