import v8 from 'node:v8';
import type { GcMode } from '../config/config.js';

// Settings of the serving process that only `gatehouse serve` applies, once, at start-up.
//
// Garbage collection, from config.yaml `gc`.
// A relay allocates about two bytes of short-lived buffers for every byte it carries (socket reads, SSH
// packets). V8's trigger for incremental marking counts that memory, so with it a full collection started
// every few tens of megabytes, ~75 per GiB relayed, while the heap stayed at 8 MB. "throughput" turns
// incremental marking off, so full collections run only when the heap itself is full (npm run bench: 1.2-1.7
// instead of 2.1-3.1 CPU seconds per GiB). Their pauses then grow with the heap, about 40-60 ms at 1,000
// sessions and 200-300 ms at 10,000; "latency" keeps V8's incremental marking (pauses under 10 ms) for
// very large session counts.
//
// The flag is set once, at start-up, before the first collection could have started; V8 reads it whenever it
// decides to begin marking.
//
// Small buffers. Node cuts buffers under 4 KiB out of shared 8 KiB slabs, and one slice still in use keeps its
// whole slab alive. ssh2 keeps a dozen small buffers for the life of each connection (version strings, key
// exchange and auth state), cut from slabs that short-lived login buffers shared, so every session pinned
// about 10 KiB of mostly dead slabs. Without the pool each small buffer has memory of its own size
// (npm run bench -- --only idle --large: 3 KiB less per session). The relayed data does not go through the
// pool: SSH packets and socket reads are larger than it anyway.

export function tuneProcess(gc: GcMode): void {
  if (gc === 'throughput') v8.setFlagsFromString('--no-incremental-marking');
  Buffer.poolSize = 0;
}
