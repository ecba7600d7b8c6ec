import type { BenchEnv } from './env.js';
import { median } from './stats.js';
import { loginAt, loginRateAt, startVariant } from './variant.js';

// What the connection database costs a login: the benchmark's Gatehouse (sessions.storage: persistent, the
// default, which writes a row when the connection arrives and updates it at every phase) beside a second one
// that stores nothing (storage: none), measured interleaved: login latency and logins per second.

export interface StoreFigures {
  readonly latencyMs: { readonly persistent: number; readonly none: number };
  readonly loginsPerSecond: { readonly persistent: number; readonly none: number };
}

export async function storeComparison(env: BenchEnv, opts: { rounds: number; seconds: number; extra: readonly string[] }): Promise<StoreFigures> {
  const none = await startVariant(env, 'nostore', { sessions: { storage: 'none' } }, 'server.listening');
  try {
    const latency = { persistent: [] as number[], none: [] as number[] };
    const rate = { persistent: [] as number[], none: [] as number[] };
    for (let i = 0; i < opts.rounds * 10; i++) {
      // Alternating which goes first, so that neither always follows the other's lingering work.
      const order = i % 2 === 0 ? (['persistent', 'none'] as const) : (['none', 'persistent'] as const);
      for (const which of order) latency[which].push(await loginAt(env, which === 'none' ? none.port : env.gatehousePort, opts.extra));
    }
    for (let r = 0; r < opts.rounds; r++) {
      const order = r % 2 === 0 ? (['persistent', 'none'] as const) : (['none', 'persistent'] as const);
      for (const which of order) rate[which].push(await loginRateAt(env, which === 'none' ? none.port : env.gatehousePort, 8, opts.seconds, opts.extra));
    }
    return {
      latencyMs: { persistent: median(latency.persistent), none: median(latency.none) },
      loginsPerSecond: { persistent: median(rate.persistent), none: median(rate.none) },
    };
  } finally {
    await none.stop();
  }
}
