import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Gatehouse } from './gatehouse.js';
import { runSsh, type ClientResult } from './openssh.js';
import { FIXTURES } from './paths.js';
import type { TestProvider } from './oidc-provider.js';
import type { Sshd } from './sshd.js';

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

/** The oidc plugin's configuration text for the test provider (secret inline, or from an environment variable). */
export function oidcConfiguration(issuer: string, secretEnv?: string): string {
  return [
    '[oidc]',
    `issuer = ${issuer}`,
    'client_id = gatehouse',
    secretEnv ? `client_secret_env = ${secretEnv}` : 'client_secret = gatehouse-test-secret-0123456789abcdef',
    'scope = openid profile',
    'user_claim = preferred_username',
    'groups_claim = groups',
    'poll_timeout = 20',
  ].join('\n');
}

/** A policy that logs in to `sshd` through the oidc plugin; only the provider's "ops" group may be its user. */
export function oidcPolicy(name: string, sshd: Sshd, configuration: string): Record<string, unknown> {
  return {
    name,
    aa_plugin: { name: 'oidc', configuration },
    targets: { allow: [{ hosts: [name], ports: [sshd.port] }] },
    target_auth: { method: 'key' },
    host_key_check: { known_hosts: 'target_known_hosts', policy: 'strict' },
    // The gateway users come from the provider; only its "ops" group may be the target's user.
    usermapping: [{ server_user: sshd.user, gateway_groups: ['ops'] }],
  };
}
