import { spawn, execFileSync, type ChildProcess } from 'node:child_process';
import { appendFileSync, chmodSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, connect } from 'node:net';
import { tmpdir, userInfo } from 'node:os';
import { join } from 'node:path';

// A real OpenSSH sshd on 127.0.0.1, started from a temp dir with its own config and host key: the target of
// the end-to-end tests. As root it logs in a dedicated test user (created when missing); otherwise it can only
// log in the user running the tests, as OpenSSH's own regression tests do.

export const SSHD = '/usr/sbin/sshd';
export const TEST_USER_PASSWORD = 'Target-pass-4711';

export interface Sshd {
  readonly port: number;
  /** The listening sshd; each connection gets processes of its own below it. */
  readonly pid: number;
  readonly user: string;
  readonly home: string;
  /** `ssh-ed25519 AAAA...` of the sshd host key. */
  readonly hostKeyLine: string;
  readonly dir: string;
  authorize(publicKeyLine: string): void;
  stop(): Promise<void>;
}

const isRoot = (): boolean => process.getuid?.() === 0;

/** The account sshd logs in: a dedicated user when running as root, else the current user. */
export function ensureTestUser(): { user: string; home: string } {
  if (!isRoot()) {
    const u = userInfo();
    return { user: u.username, home: u.homedir };
  }
  const user = 'ghtest';
  try {
    execFileSync('id', [user], { stdio: 'ignore' });
  } catch {
    execFileSync('useradd', ['-m', '-s', '/bin/sh', user], { stdio: 'inherit' });
  }
  // With UsePAM no, sshd refuses accounts whose password field is locked, even for keys; a known password
  // also serves the tests of target password logins (sshd accepts it only where PasswordAuthentication is on).
  execFileSync('chpasswd', { input: `${user}:${TEST_USER_PASSWORD}\n` });
  const home = execFileSync('sh', ['-c', `getent passwd ${user} | cut -d: -f6`]).toString().trim();
  return { user, home };
}

export async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = createServer();
    srv.once('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const { port } = srv.address() as { port: number };
      srv.close(() => resolve(port));
    });
  });
}

async function waitForPort(port: number, child: ChildProcess, timeoutMs = 10_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    if (child.exitCode !== null) throw new Error(`sshd exited with code ${child.exitCode}`);
    const ok = await new Promise<boolean>((resolve) => {
      const s = connect(port, '127.0.0.1');
      s.once('connect', () => { s.destroy(); resolve(true); });
      s.once('error', () => resolve(false));
    });
    if (ok) return;
    if (Date.now() > deadline) throw new Error(`sshd did not listen on ${port}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

export interface SshdOptions {
  readonly password?: boolean;
  /** More sshd_config lines, e.g. "AllowAgentForwarding no". */
  readonly config?: readonly string[];
}

export async function startSshd(opts: SshdOptions = {}): Promise<Sshd> {
  if (!existsSync(SSHD)) throw new Error(`${SSHD} is missing: install the openssh-server package`);
  if (isRoot()) mkdirSync('/run/sshd', { recursive: true, mode: 0o755 });
  const { user, home } = ensureTestUser();
  const dir = mkdtempSync(join(tmpdir(), 'gh-sshd-'));
  // sshd reads authorized_keys as the target user.
  chmodSync(dir, 0o755);
  execFileSync('ssh-keygen', ['-q', '-N', '', '-t', 'ed25519', '-f', join(dir, 'host_ed25519')]);
  const authorized = join(dir, 'authorized_keys');
  writeFileSync(authorized, '', { mode: 0o644 });
  // freePort() and sshd's bind race with other processes taking ephemeral ports: try a few.
  for (let attempt = 1; ; attempt++) {
    try {
      return await launchSshd(dir, user, home, authorized, opts);
    } catch (err) {
      if (attempt >= 5 || !/Address already in use/.test((err as Error).message)) {
        rmSync(dir, { recursive: true, force: true });
        throw err;
      }
    }
  }
}

async function launchSshd(dir: string, user: string, home: string, authorized: string, opts: SshdOptions): Promise<Sshd> {
  const port = await freePort();
  const cfg = join(dir, 'sshd_config');
  writeFileSync(cfg, [
    // First: for most keywords sshd keeps the first value it reads.
    ...(opts.config ?? []),
    `Port ${port}`,
    'ListenAddress 127.0.0.1',
    `HostKey ${join(dir, 'host_ed25519')}`,
    `PidFile ${join(dir, 'sshd.pid')}`,
    `AuthorizedKeysFile ${authorized}`,
    `AllowUsers ${user}`,
    'StrictModes no',
    'UsePAM no',
    `PasswordAuthentication ${opts.password ? 'yes' : 'no'}`,
    'KbdInteractiveAuthentication no',
    'PubkeyAuthentication yes',
    'PermitRootLogin no',
    'Subsystem sftp internal-sftp',
    'UseDNS no',
    'AcceptEnv LANG LC_* GH_*',
    'AllowTcpForwarding yes',
    'MaxStartups 200',
    'MaxSessions 50',
    'LogLevel ERROR',
    '',
  ].join('\n'));
  const child = spawn(SSHD, ['-f', cfg, '-D', '-e'], { stdio: ['ignore', 'ignore', 'pipe'] });
  let stderr = '';
  child.stderr!.on('data', (d: Buffer) => { stderr += d.toString(); });
  try {
    await waitForPort(port, child);
    // Something else may have answered on the port while sshd failed to bind it.
    await new Promise((r) => setTimeout(r, 20));
    if (child.exitCode !== null) throw new Error(`sshd exited with code ${child.exitCode}`);
  } catch (err) {
    child.kill('SIGKILL');
    throw new Error(`${(err as Error).message}: ${stderr}`);
  }
  const hostKeyLine = readFileSync(join(dir, 'host_ed25519.pub'), 'utf8').trim().split(/\s+/).slice(0, 2).join(' ');
  return {
    port, pid: child.pid!, user, home, hostKeyLine, dir,
    authorize: (line) => appendFileSync(authorized, `${line.trim()}\n`),
    stop: async () => {
      if (child.exitCode === null) {
        const exited = new Promise((r) => child.once('exit', r));
        child.kill('SIGTERM');
        await exited;
      }
      rmSync(dir, { recursive: true, force: true });
    },
  };
}
