import { spawn } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import yaml from 'js-yaml';
import { freePort } from '../test/helpers/sshd.js';
import type { BenchEnv } from './env.js';
import { run, runsPerSecond } from './scenarios.js';

// A second Gatehouse beside the benchmark's own: the same configuration with some keys changed, on its own
// port, state folder and log, so that a scenario can measure the two interleaved on the same machine and
// report a ratio that the machine's load of the moment does not skew.

const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..', '..');
const q = (s: string): string => `'${s.replace(/'/g, `'\\''`)}'`;

export interface Variant {
  readonly port: number;
  stop(): Promise<void>;
}

/** Starts Gatehouse with the bench config plus `overrides`, and waits for the log line `ready`. */
export async function startVariant(env: BenchEnv, name: string, overrides: Record<string, unknown>, ready: string): Promise<Variant> {
  const port = await freePort();
  const config = yaml.load(readFileSync(join(env.dir, 'config.yaml'), 'utf8')) as Record<string, unknown>;
  const file = join(env.dir, `config-${name}.yaml`);
  writeFileSync(file, yaml.dump({ ...config, ...overrides, listen: [`127.0.0.1:${port}`], state_dir: `data-${name}` }));
  const logFile = join(env.dir, `gatehouse-${name}.log`);
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
    if (text.includes(`"event":"${ready}"`)) break;
    if (gh.exitCode !== null || Date.now() > deadline) throw new Error(`Gatehouse (${name}) did not start:\n${text}`);
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
export function sshTo(env: BenchEnv, port: number, command: string, extra: readonly string[]): string {
  const args = env.sshArgs('gatehouse', extra);
  const i = args.lastIndexOf('-p');
  args[i + 1] = String(port);
  return `ssh ${args.map(q).join(' ')} 127.0.0.1 ${q(command)}`;
}

/** Logins per second through the Gatehouse at `port`, `parallel` clients for `seconds`. */
export function loginRateAt(env: BenchEnv, port: number, parallel: number, seconds: number, extra: readonly string[]): Promise<number> {
  return runsPerSecond(sshTo(env, port, 'true', extra), parallel, seconds);
}

/** Milliseconds of one login to command (`ssh host true`) through the Gatehouse at `port`. */
export async function loginAt(env: BenchEnv, port: number, extra: readonly string[]): Promise<number> {
  const started = performance.now();
  await run(sshTo(env, port, 'true', extra));
  return performance.now() - started;
}
