import { spawn } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import yaml from 'js-yaml';
import { freePort } from '../test/helpers/sshd.js';
import type { BenchEnv } from './env.js';
import { run } from './scenarios.js';
import { median } from './stats.js';

// `workers: 2` beside `workers: 1`: a second Gatehouse with the benchmark's configuration but two worker
// processes, on its own port and state folder, measured against the first one interleaved: logins per
// second with parallel clients, and the aggregate throughput of several bulk transfers at once.

export interface WorkersFigures {
  readonly loginsPerSecond: { readonly one: number; readonly two: number };
  readonly bulkMBps: { readonly one: number; readonly two: number; readonly transfers: number; readonly bytesEach: number };
}

const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..', '..');
const q = (s: string): string => `'${s.replace(/'/g, `'\\''`)}'`;

async function startTwoWorkers(env: BenchEnv): Promise<{ port: number; stop(): Promise<void> }> {
  const port = await freePort();
  const config = yaml.load(readFileSync(join(env.dir, 'config.yaml'), 'utf8')) as Record<string, unknown>;
  const file = join(env.dir, 'config-workers.yaml');
  writeFileSync(file, yaml.dump({ ...config, listen: [`127.0.0.1:${port}`], workers: 2, state_dir: 'data-workers' }));
  const logFile = join(env.dir, 'gatehouse-workers.log');
  const cli = join(ROOT, 'build', 'src', 'cli', 'main.js');
  const gh = spawn('sh', ['-c', `ulimit -n "$(ulimit -Hn)" 2>/dev/null; exec "${process.execPath}" "${cli}" serve --config "${file}" > "${logFile}" 2>&1`], { stdio: 'ignore' });
  const deadline = Date.now() + 60_000;
  for (;;) {
    let text = '';
    try {
      text = readFileSync(logFile, 'utf8');
    } catch {
      // not written yet
    }
    if (text.includes('"event":"workers.ready"')) break;
    if (gh.exitCode !== null || Date.now() > deadline) throw new Error(`Gatehouse with workers: 2 did not start:\n${text}`);
    await new Promise((r) => setTimeout(r, 50));
  }
  return {
    port,
    async stop() {
      if (gh.exitCode !== null) return;
      const gone = new Promise((res) => gh.once('exit', res));
      gh.kill('SIGTERM');
      await Promise.race([gone, new Promise((res) => setTimeout(res, 20_000))]);
      if (gh.exitCode === null) gh.kill('SIGKILL');
    },
  };
}

/** The Gatehouse route's ssh command line, pointed at `port`. */
function sshTo(env: BenchEnv, port: number, command: string, extra: readonly string[]): string {
  const args = env.sshArgs('gatehouse', extra);
  const i = args.lastIndexOf('-p');
  args[i + 1] = String(port);
  return `ssh ${args.map(q).join(' ')} 127.0.0.1 ${q(command)}`;
}

async function loginRate(env: BenchEnv, port: number, parallel: number, seconds: number, extra: readonly string[]): Promise<number> {
  const deadline = performance.now() + seconds * 1000;
  let done = 0;
  const client = async (): Promise<void> => {
    while (performance.now() < deadline) {
      await run(sshTo(env, port, 'true', extra));
      done++;
    }
  };
  const started = performance.now();
  await Promise.all(Array.from({ length: parallel }, client));
  return done / ((performance.now() - started) / 1000);
}

async function parallelDownloads(env: BenchEnv, port: number, transfers: number, bytesEach: number, extra: readonly string[]): Promise<number> {
  const started = performance.now();
  await Promise.all(Array.from({ length: transfers }, () => run(`${sshTo(env, port, `head -c ${bytesEach} /dev/zero`, extra)} > /dev/null`)));
  return (transfers * bytesEach) / 1e6 / ((performance.now() - started) / 1000);
}

export async function workersComparison(env: BenchEnv, opts: { rounds: number; seconds: number; transfers: number; bytesEach: number; extra: readonly string[] }): Promise<WorkersFigures> {
  const two = await startTwoWorkers(env);
  try {
    const logins = { one: [] as number[], two: [] as number[] };
    const bulk = { one: [] as number[], two: [] as number[] };
    for (let r = 0; r < opts.rounds; r++) {
      logins.one.push(await loginRate(env, env.gatehousePort, 8, opts.seconds, opts.extra));
      logins.two.push(await loginRate(env, two.port, 8, opts.seconds, opts.extra));
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
