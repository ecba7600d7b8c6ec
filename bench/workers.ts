import type { BenchEnv } from './env.js';
import { run } from './scenarios.js';
import { median } from './stats.js';
import { loginRateAt, sshTo, startVariant } from './variant.js';

// `workers: 2` beside `workers: 1`: a second Gatehouse with the benchmark's configuration but two worker
// processes, on its own port and state folder, measured against the first one interleaved: logins per
// second with parallel clients, and the aggregate throughput of several bulk transfers at once.

export interface WorkersFigures {
  readonly loginsPerSecond: { readonly one: number; readonly two: number };
  readonly bulkMBps: { readonly one: number; readonly two: number; readonly transfers: number; readonly bytesEach: number };
}

async function parallelDownloads(env: BenchEnv, port: number, transfers: number, bytesEach: number, extra: readonly string[]): Promise<number> {
  const started = performance.now();
  await Promise.all(Array.from({ length: transfers }, () => run(`${sshTo(env, port, `head -c ${bytesEach} /dev/zero`, extra)} > /dev/null`)));
  return (transfers * bytesEach) / 1e6 / ((performance.now() - started) / 1000);
}

export async function workersComparison(env: BenchEnv, opts: { rounds: number; seconds: number; transfers: number; bytesEach: number; extra: readonly string[] }): Promise<WorkersFigures> {
  const two = await startVariant(env, 'workers', { workers: 2 }, 'workers.ready');
  try {
    const logins = { one: [] as number[], two: [] as number[] };
    const bulk = { one: [] as number[], two: [] as number[] };
    for (let r = 0; r < opts.rounds; r++) {
      logins.one.push(await loginRateAt(env, env.gatehousePort, 8, opts.seconds, opts.extra));
      logins.two.push(await loginRateAt(env, two.port, 8, opts.seconds, opts.extra));
      bulk.one.push(await parallelDownloads(env, env.gatehousePort, opts.transfers, opts.bytesEach, opts.extra));
      bulk.two.push(await parallelDownloads(env, two.port, opts.transfers, opts.bytesEach, opts.extra));
    }
    return {
      loginsPerSecond: { one: median(logins.one), two: median(logins.two) },
      bulkMBps: { one: median(bulk.one), two: median(bulk.two), transfers: opts.transfers, bytesEach: opts.bytesEach },
    };
  } finally {
    await two.stop();
  }
}
