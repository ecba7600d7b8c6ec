import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Gatehouse } from './gatehouse.js';
import { runSsh, type ClientResult } from './openssh.js';
import { FIXTURES } from './paths.js';
import type { TestProvider } from './oidc-provider.js';

// An ssh login through the oidc plugin's device flow, as a person does it: ssh shows "Open URL and enter code
// X, then press Enter"; the person approves X in the browser (here: over HTTP at the test provider) and then
// presses Enter (here: the waiting askpass script answers once the test created its "go" file).

export const ASKPASS_WAIT = join(FIXTURES, 'askpass-wait.sh');

export interface DeviceLogin {
  /** Prompts ssh showed so far. */
  prompts(): string[];
  /** Resolves with the code shown in the first prompt. */
  userCode(): Promise<string>;
  /** Lets the waiting askpass answer (the user presses Enter). */
  pressEnter(): void;
  readonly done: Promise<ClientResult>;
}

export function startDeviceLogin(gh: Gatehouse, login: string, command: string, timeoutMs = 60_000): DeviceLogin {
  const dir = mkdtempSync(join(tmpdir(), 'gh-device-'));
  let seen: string[] = [];
  const prompts = (): string[] => {
    if (existsSync(join(dir, 'prompts'))) seen = readFileSync(join(dir, 'prompts'), 'utf8').split('\n').filter(Boolean);
    return seen;
  };
  const done = runSsh({
    port: gh.port, knownHosts: gh.knownHosts, login, command, timeoutMs,
    env: { SSH_ASKPASS: ASKPASS_WAIT, OIDC_ASKPASS_DIR: dir },
  }).finally(() => {
    prompts();
    rmSync(dir, { recursive: true, force: true });
  });
  return {
    prompts,
    async userCode() {
      const deadline = Date.now() + 30_000;
      for (;;) {
        const m = prompts().map((p) => /enter code (\S+?)[ ,(]/.exec(p)).find(Boolean);
        if (m) return m[1]!;
        if (Date.now() > deadline) throw new Error(`no device code prompt within 30 s (prompts: ${prompts().join(' | ')})`);
        await new Promise((r) => setTimeout(r, 50));
      }
    },
    pressEnter() {
      if (existsSync(dir)) writeFileSync(join(dir, 'go'), '');
    },
    done,
  };
}

/** A whole device-flow login: approve the code as `account` at the provider, then press Enter. */
export async function deviceLogin(gh: Gatehouse, op: TestProvider, account: string, login: string, command: string): Promise<{ login: DeviceLogin; code: string }> {
  const l = startDeviceLogin(gh, login, command);
  const code = await l.userCode();
  await op.approve(code, account);
  l.pressEnter();
  return { login: l, code };
}

/** A loopback port nothing listens on (for "provider down"). */
export async function closedPort(): Promise<number> {
  const s = createServer();
  await new Promise<void>((r) => s.listen(0, '127.0.0.1', r));
  const port = (s.address() as { port: number }).port;
  await new Promise<void>((r) => s.close(() => r()));
  return port;
}
