import v8 from 'node:v8';
import type { GcMode } from '../config/config.js';

// How V8 collects garbage in the serving process, from config.yaml `gc`.
//
// A relay allocates about two bytes of short-lived buffers for every byte it carries (socket reads, SSH
// packets). V8 counts that memory against the old generation's limit and, with incremental marking, starts a
// full collection every few tens of megabytes: ~75 per GiB relayed, a third of Gatehouse's CPU on bulk
// transfers. "throughput" turns incremental marking off, so full collections run only when the heap itself
// is full (bench: 1.4-1.6 instead of 2.4-2.9 CPU seconds per GiB). Their pauses then grow with the heap,
// about 40 ms at 1,000 sessions and 200-300 ms at 10,000; "latency" keeps V8's incremental marking for
// very large session counts.
//
// The flag is set once, at start-up, before the first collection could have started; V8 reads it whenever it
// decides to begin marking.

export function applyGcMode(mode: GcMode): void {
  if (mode === 'throughput') v8.setFlagsFromString('--no-incremental-marking');
}
