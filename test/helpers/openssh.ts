import { spawn } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ASKPASS } from './paths.js';

// Runs the real OpenSSH client (ssh, scp, sftp) against Gatehouse. Prompts are answered through SSH_ASKPASS
// with SSH_ASKPASS_REQUIRE=force, from a list of answers; every prompt shown is returned.

export interface ClientResult {
  readonly code: number | null;
  readonly stdout: string;
  readonly stderr: string;
  readonly prompts: string[];
  readonly ms: number;
}

export interface ClientOptions {
  readonly port: number;
  readonly knownHosts: string;
  /** The user name Gatehouse receives, e.g. "token=1@ghtest@127.0.0.1:2200". */
  readonly login: string;
  readonly answers?: readonly string[];
  readonly stdin?: string | Buffer;
  readonly timeoutMs?: number;
  /** Extra -o options and flags, placed before the destination. */
  readonly options?: readonly string[];
  /** Extra environment, e.g. DISPLAY for X11 forwarding. */
  readonly env?: Readonly<Record<string, string>>;
}

function commonOptions(o: ClientOptions): string[] {
  return [
    '-F', '/dev/null',
    '-o', `UserKnownHostsFile=${o.knownHosts}`,
    '-o', 'StrictHostKeyChecking=yes',
    '-o', 'PubkeyAuthentication=no',
    '-o', 'IdentitiesOnly=yes',
    '-o', 'ControlMaster=no',
    '-o', 'ConnectTimeout=15',
    '-o', `User=${o.login}`,
    ...(o.options ?? []),
  ];
}

/** ssh's arguments up to the destination, for a client the test runs itself (e.g. a tunnel with -N). */
export function sshArgs(o: ClientOptions): string[] {
  return [...commonOptions(o), '-p', String(o.port)];
}

export function runSsh(o: ClientOptions & { readonly command?: string }): Promise<ClientResult> {
  return run('ssh', [...sshArgs(o), '127.0.0.1', ...(o.command !== undefined ? [o.command] : [])], o);
}

export function runScp(o: ClientOptions & { readonly from: string; readonly to: string }): Promise<ClientResult> {
  return run('scp', ['-q', ...commonOptions(o), '-P', String(o.port), o.from, o.to], o);
}

/**
 * Runs sftp commands (one per line) through Gatehouse. They go in on stdin rather than with -b: batch mode
 * turns off keyboard-interactive authentication, and the tests answer Gatehouse's questions.
 */
export function runSftp(o: ClientOptions & { readonly commands: string }): Promise<ClientResult> {
  return run('sftp', ['-q', ...commonOptions(o), '-P', String(o.port), '127.0.0.1'], { ...o, stdin: o.commands });
}

async function run(tool: string, args: string[], o: ClientOptions): Promise<ClientResult> {
  const dir = mkdtempSync(join(tmpdir(), 'gh-askpass-'));
  writeFileSync(join(dir, 'answers'), (o.answers ?? []).map((a) => `${a}\n`).join(''));
  const started = performance.now();
  try {
    const child = spawn(tool, args, {
      env: { ...process.env, SSH_ASKPASS: ASKPASS, SSH_ASKPASS_REQUIRE: 'force', ASKPASS_DIR: dir, DISPLAY: '', ...o.env },
      stdio: [o.stdin === undefined ? 'ignore' : 'pipe', 'pipe', 'pipe'],
    });
    if (o.stdin !== undefined) {
      child.stdin!.on('error', () => undefined); // the client may exit before reading all of it
      child.stdin!.end(o.stdin);
    }
    const out: Buffer[] = [];
    const err: Buffer[] = [];
    child.stdout!.on('data', (d: Buffer) => out.push(d));
    child.stderr!.on('data', (d: Buffer) => err.push(d));
    const timer = setTimeout(() => child.kill('SIGKILL'), o.timeoutMs ?? 60_000);
    const code = await new Promise<number | null>((resolve) => child.once('close', (c) => resolve(c)));
    clearTimeout(timer);
    const promptsFile = join(dir, 'prompts');
    return {
      code,
      stdout: Buffer.concat(out).toString(),
      stderr: Buffer.concat(err).toString(),
      prompts: existsSync(promptsFile) ? readFileSync(promptsFile, 'utf8').split('\n').filter(Boolean) : [],
      ms: performance.now() - started,
    };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}
