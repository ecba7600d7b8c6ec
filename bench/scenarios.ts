import { spawn } from 'node:child_process';
import { machineBusySeconds, procStats, type BenchEnv, type Route } from './env.js';

// The scenarios, each measured on one route at a time by real OpenSSH clients: bulk streams, scp and sftp,
// login-to-command latency, and logins per second with parallel clients.

export interface Sample {
  readonly ms: number;
  /** CPU seconds the whole machine spent during the sample: client, jump host, Gatehouse, target. */
  readonly machineCpu: number;
  /** Gatehouse CPU seconds spent during the sample (gatehouse route only). */
  readonly gatehouseCpu?: number;
}

const q = (s: string): string => `'${s.replace(/'/g, `'\\''`)}'`;

/** Runs a shell command line; resolves with its wall time, rejects when it fails. */
export function run(cmdline: string, timeoutMs = 300_000): Promise<number> {
  return new Promise((resolve, reject) => {
    const started = performance.now();
    const child = spawn('sh', ['-c', cmdline], { stdio: ['ignore', 'ignore', 'pipe'] });
    let err = '';
    child.stderr.on('data', (d: Buffer) => { err += d.toString(); });
    const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
    child.once('close', (code) => {
      clearTimeout(timer);
      if (code === 0) resolve(performance.now() - started);
      else reject(new Error(`exit ${code}: ${cmdline}\n${err}`));
    });
  });
}

async function measured(env: BenchEnv, route: Route, cmdline: string): Promise<Sample> {
  const before = route === 'gatehouse' ? procStats(env.gatehousePid).cpuSeconds : 0;
  const machineBefore = machineBusySeconds();
  const ms = await run(cmdline);
  const machineCpu = machineBusySeconds() - machineBefore;
  return route === 'gatehouse' ? { ms, machineCpu, gatehouseCpu: procStats(env.gatehousePid).cpuSeconds - before } : { ms, machineCpu };
}

export function ssh(env: BenchEnv, route: Route, command: string, extra: readonly string[] = []): string {
  return `ssh ${env.sshArgs(route, extra).map(q).join(' ')} 127.0.0.1 ${q(command)}`;
}

export function bulkUpload(env: BenchEnv, route: Route, bytes: number, extra: readonly string[]): Promise<Sample> {
  return measured(env, route, `head -c ${bytes} /dev/zero | ${ssh(env, route, 'cat > /dev/null', extra)}`);
}

export function bulkDownload(env: BenchEnv, route: Route, bytes: number, extra: readonly string[]): Promise<Sample> {
  return measured(env, route, `${ssh(env, route, `head -c ${bytes} /dev/zero`, extra)} > /dev/null`);
}

export function scpUpload(env: BenchEnv, route: Route, file: string, remote: string): Promise<Sample> {
  return measured(env, route, `scp -q ${env.copyArgs(route).map(q).join(' ')} ${q(file)} ${q(`127.0.0.1:${remote}`)}`);
}

export function sftpUpload(env: BenchEnv, route: Route, file: string, remote: string): Promise<Sample> {
  // Commands on stdin, not -b: batch mode would turn off the keyboard-interactive login Gatehouse uses.
  return measured(env, route, `printf '%s\\n' ${q(`put ${file} ${remote}`)} | sftp -q ${env.copyArgs(route).map(q).join(' ')} 127.0.0.1`);
}

export function login(env: BenchEnv, route: Route, extra: readonly string[]): Promise<Sample> {
  return measured(env, route, ssh(env, route, 'true', extra));
}

/** Logins completed per second by `parallel` clients looping `ssh host true` for `seconds`. */
export function loginRate(env: BenchEnv, route: Route, parallel: number, seconds: number, extra: readonly string[]): Promise<number> {
  return runsPerSecond(ssh(env, route, 'true', extra), parallel, seconds);
}

/** How many times per second `parallel` loops running `cmdline` to its end complete it, for `seconds`. */
export async function runsPerSecond(cmdline: string, parallel: number, seconds: number): Promise<number> {
  const deadline = performance.now() + seconds * 1000;
  let done = 0;
  const loop = async (): Promise<void> => {
    while (performance.now() < deadline) {
      await run(cmdline);
      done++;
    }
  };
  const started = performance.now();
  await Promise.all(Array.from({ length: parallel }, loop));
  return done / ((performance.now() - started) / 1000);
}
