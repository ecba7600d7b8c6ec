import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { cpSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import yaml from 'js-yaml';
import { freePort, startSshd, type Sshd } from '../test/helpers/sshd.js';

// The benchmark's world, all on loopback and in one temp dir: an OpenSSH sshd as the target, a second one as
// a classic jump host, Gatehouse as a separate process (so that its CPU and memory can be read from /proc)
// with the no-op plugin and key-based target login, and an ssh2 target for idle sessions.

const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..', '..');

export type Route = 'direct' | 'jump' | 'gatehouse';
export const ROUTES: readonly Route[] = ['direct', 'jump', 'gatehouse'];

export interface BenchEnv {
  readonly dir: string;
  readonly target: Sshd;
  readonly jump: Sshd;
  readonly gatehousePort: number;
  readonly gatehousePid: number;
  readonly idleAlias: string;
  readonly clientKey: string;
  /** The OpenSSH client arguments (before the command) to reach the target on a route. */
  sshArgs(route: Route, extra?: readonly string[]): string[];
  /** The same for scp/sftp, which take the port as -P. */
  copyArgs(route: Route, extra?: readonly string[]): string[];
  stop(): Promise<void>;
}

const COMMON = ['-F', '/dev/null', '-o', 'StrictHostKeyChecking=no', '-o', 'UserKnownHostsFile=/dev/null', '-o', 'LogLevel=ERROR', '-o', 'ControlMaster=no'];

export async function startEnv(): Promise<BenchEnv> {
  const dir = mkdtempSync(join(tmpdir(), 'gh-bench-'));
  const clientKey = join(dir, 'client_ed25519');
  execFileSync('ssh-keygen', ['-q', '-N', '', '-t', 'ed25519', '-f', clientKey]);
  const clientPub = readFileSync(`${clientKey}.pub`, 'utf8');
  const [target, jump] = await Promise.all([startSshd(), startSshd()]);
  target.authorize(clientPub);
  jump.authorize(clientPub);

  const idleKey = join(dir, 'idle_host');
  execFileSync('ssh-keygen', ['-q', '-N', '', '-t', 'ed25519', '-f', idleKey]);
  const gatehousePort = await freePort();
  const keys = join(dir, 'keys');
  // Gatehouse's client key, made here so that the targets can trust it before Gatehouse starts.
  execFileSync('mkdir', ['-p', keys]);
  execFileSync('ssh-keygen', ['-q', '-N', '', '-t', 'ed25519', '-f', join(keys, 'client_ed25519')]);
  const gatehousePub = readFileSync(join(keys, 'client_ed25519.pub'), 'utf8');
  target.authorize(gatehousePub);

  const idle = spawn(process.execPath, [join(ROOT, 'build', 'bench', 'idle-target.js'), idleKey, join(keys, 'client_ed25519.pub')], { stdio: ['ignore', 'pipe', 'inherit'] });
  const idlePort = Number(await firstLine(idle));
  const idleHostKey = readFileSync(`${idleKey}.pub`, 'utf8').trim().split(' ').slice(0, 2).join(' ');

  cpSync(join(ROOT, 'bench', 'fixtures'), join(dir, 'plugins'), { recursive: true });
  writeFileSync(join(dir, 'known_hosts'), `[127.0.0.1]:${target.port} ${target.hostKeyLine}\n[127.0.0.1]:${idlePort} ${idleHostKey}\n`);
  writeFileSync(join(dir, 'config.yaml'), yaml.dump({
    listen: [`127.0.0.1:${gatehousePort}`],
    log_level: process.env['BENCH_LOG_LEVEL'] ?? 'info',
    limits: { max_unauthenticated: 5000 },
    hosts: { idle: `127.0.0.1:${idlePort}` },
    policies: [
      {
        name: 'bench',
        aa_plugin: { name: 'noop' },
        targets: { allow: [{ hosts: ['127.0.0.1', 'idle'], ports: [target.port, idlePort] }] },
        target_auth: { method: 'key' },
        host_key_check: { known_hosts: 'known_hosts' },
      },
    ],
    // BENCH_CONFIG: top-level keys (JSON) laid over the bench's config, to attribute a cost to one feature.
    ...(JSON.parse(process.env['BENCH_CONFIG'] ?? '{}') as Record<string, unknown>),
  }));
  // Its own process, with as many file descriptors as the hard limit allows (two sockets per session); logs go
  // to a file, as in production.
  const gh = spawn('sh', ['-c', `ulimit -n "$(ulimit -Hn)" 2>/dev/null; exec "${process.execPath}" ${process.env["BENCH_NODE_FLAGS"] ?? ""} "${join(ROOT, 'build', 'src', 'cli', 'main.js')}" serve --config "${join(dir, 'config.yaml')}" > "${join(dir, 'gatehouse.log')}" 2>&1`], { stdio: 'ignore' });
  await waitForLog(join(dir, 'gatehouse.log'), '"event":"server.listening"', gh);

  const proxyFor = (extra: readonly string[]): string =>
    `ssh ${[...COMMON, '-i', clientKey, '-o', 'IdentitiesOnly=yes', ...extra].map((a) => `'${a}'`).join(' ')} -p ${jump.port} -W %h:%p ${jump.user}@127.0.0.1`;
  const route = (r: Route, extra: readonly string[], portFlag: '-p' | '-P'): string[] => {
    switch (r) {
      case 'direct':
        return [...COMMON, ...extra, '-i', clientKey, '-o', 'IdentitiesOnly=yes', portFlag, String(target.port), '-o', `User=${target.user}`];
      case 'jump':
        return [...COMMON, ...extra, '-i', clientKey, '-o', 'IdentitiesOnly=yes', '-o', `ProxyCommand=${proxyFor(extra)}`, portFlag, String(target.port), '-o', `User=${target.user}`];
      case 'gatehouse':
        return [...COMMON, ...extra, '-o', 'PubkeyAuthentication=no', '-o', 'PreferredAuthentications=keyboard-interactive',
          portFlag, String(gatehousePort), '-o', `User=${target.user}@127.0.0.1:${target.port}`];
    }
  };
  return {
    dir, target, jump, gatehousePort, gatehousePid: gh.pid!, idleAlias: 'idle', clientKey,
    sshArgs: (r, extra = []) => route(r, extra, '-p'),
    copyArgs: (r, extra = []) => route(r, extra, '-P'),
    async stop() {
      for (const p of [gh, idle]) {
        if (p.exitCode === null) {
          const gone = new Promise((res) => p.once('exit', res));
          p.kill('SIGTERM');
          await Promise.race([gone, new Promise((res) => setTimeout(res, 10_000))]);
          if (p.exitCode === null) p.kill('SIGKILL');
        }
      }
      await Promise.all([target.stop(), jump.stop()]);
      // BENCH_GATEHOUSE_LOG=FILE keeps Gatehouse's log (with BENCH_NODE_FLAGS=--trace-gc, its GC trace too).
      const keep = process.env['BENCH_GATEHOUSE_LOG'];
      if (keep) cpSync(join(dir, 'gatehouse.log'), keep);
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

function firstLine(p: ChildProcess): Promise<string> {
  return new Promise((resolve, reject) => {
    createInterface({ input: p.stdout! }).once('line', resolve);
    p.once('exit', (code) => reject(new Error(`exited with ${code}`)));
  });
}

async function waitForLog(file: string, needle: string, p: ChildProcess): Promise<void> {
  const deadline = Date.now() + 20_000;
  for (;;) {
    let text = '';
    try {
      text = readFileSync(file, 'utf8');
    } catch {
      // not written yet
    }
    if (text.includes(needle)) return;
    if (p.exitCode !== null || Date.now() > deadline) throw new Error(`Gatehouse did not start:\n${text}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

/** CPU seconds the whole machine has been busy (every CPU, every process), from /proc/stat. */
export function machineBusySeconds(): number {
  // cpu  user nice system idle iowait irq softirq steal guest guest_nice: the machine's own work is user,
  // nice, system, irq and softirq (guest time is inside user already; steal is another VM's).
  const f = readFileSync('/proc/stat', 'utf8').split('\n', 1)[0]!.trim().split(/\s+/).slice(1, 8).map(Number);
  return ((f[0] ?? 0) + (f[1] ?? 0) + (f[2] ?? 0) + (f[5] ?? 0) + (f[6] ?? 0)) / 100;
}

/** CPU seconds (user + system) and RSS of a process, from /proc. */
export function procStats(pid: number): { cpuSeconds: number; rssBytes: number } {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  const ticks = Number(fields[11]) + Number(fields[12]); // utime, stime
  const rss = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
  return { cpuSeconds: ticks / 100, rssBytes: Number(rss?.[1] ?? 0) * 1024 };
}
