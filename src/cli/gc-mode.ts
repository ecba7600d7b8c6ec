import v8 from 'node:v8';
import type { GcMode } from '../config/config.js';

// How V8 collects garbage in the serving process, from config.yaml `gc`.
//
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

export function applyGcMode(mode: GcMode): void {
  if (mode === 'throughput') v8.setFlagsFromString('--no-incremental-marking');
}
