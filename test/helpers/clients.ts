import { execFileSync, spawn } from 'node:child_process';
import { join } from 'node:path';
import type { Gatehouse } from './gatehouse.js';

// Running SSH clients other than OpenSSH's (the interop tests): a program with arguments, environment and
// stdin, under a deadline, and what a client needs to pin Gatehouse's host key.

export interface ProgramResult { code: number | null; stdout: string; stderr: string }

/** Runs `cmd` to its end (SIGKILL after `timeoutMs`), with `env` added to the test's environment. */
export function runProgram(cmd: string, args: readonly string[], env: Record<string, string>, input?: string, timeoutMs = 60_000): Promise<ProgramResult> {
  return new Promise((resolve) => {
    const child = spawn(cmd, args, { env: { ...process.env, ...env }, stdio: ['pipe', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => { stdout += d.toString(); });
    child.stderr.on('data', (d: Buffer) => { stderr += d.toString(); });
    child.stdin.on('error', () => undefined); // the client may exit before reading all of it
    child.stdin.end(input ?? '');
    const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
    child.on('close', (code) => { clearTimeout(timer); resolve({ code, stdout, stderr }); });
  });
}

/** The SHA256 fingerprint of a public key file, as `ssh-keygen -l` prints it (`SHA256:...`). */
export function fingerprint(pubFile: string): string {
  return execFileSync('ssh-keygen', ['-l', '-E', 'sha256', '-f', pubFile]).toString().split(' ')[1]!;
}

/** The fingerprint of Gatehouse's ed25519 host key, the one clients that prefer ed25519 are shown. */
export function gatehouseFingerprint(gh: Gatehouse): string {
  return fingerprint(join(gh.dir, 'keys', 'host_ed25519.pub'));
}

/** The reason the first session to close after log line `from` was recorded with (logout, client_gone ...). */
export async function closedReason(gh: Gatehouse, from: number): Promise<unknown> {
  const closed = (): Gatehouse['logs'] => gh.logs.slice(from).filter((l) => l.event === 'session.closed');
  await gh.waitFor('the session closed', () => closed().length > 0, 30_000);
  return closed()[0]!.reason;
}
