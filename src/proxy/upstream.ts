import { createHash } from 'node:crypto';
import ssh2, { type AnyAuthMethod, type AuthenticationType, type BaseAgent, type Client as SshClient, type ConnectConfig, type NextAuthHandler, type Prompt } from 'ssh2';
import type { Logger } from 'pino';
import { BastionError } from '../core/errors.js';
import { DEFAULT_SERVER_HOST_KEY } from '../ssh2x/internals.js';
import { tuneConnection } from '../ssh2x/protocol-extras.js';
import { appendKnownHost, checkHostKey, keyTypeOf, knownKeyTypes, readKnownHosts, type HostKeyStatus } from '../ssh2x/known-hosts.js';
import type { ResolvedTarget } from '../target/resolved-target.js';

// The connection to the target server: an ssh2 Client that verifies the target's host key against the
// policy's known_hosts before anything else is sent, then logs in with Gatehouse's key or the user's password.
// Every failure comes back as a BastionError whose user message says what went wrong without internals.

/** What Gatehouse may try on the target, in order, within one connection. */
export type TargetCredential = { readonly privateKeys: readonly Buffer[] } | { readonly passwords: readonly string[] };

export interface UpstreamOptions {
  readonly target: ResolvedTarget;
  readonly username: string;
  readonly credential: TargetCredential;
  readonly hostKeyCheck: { readonly knownHosts: string; readonly policy: 'strict' | 'accept-new' };
  readonly timeoutMs: number;
  /** Alive checks: ask every `intervalMs` (0: never), give up after `countMax` unanswered. */
  readonly alive: { readonly intervalMs: number; readonly countMax: number };
  readonly log: Logger;
  /** Where the target's agent requests go, when the policy allows agent forwarding. */
  readonly agent?: BaseAgent;
}

const ALGOS_FOR_KEY_TYPE: Record<string, string[]> = {
  'ssh-rsa': ['rsa-sha2-512', 'rsa-sha2-256', 'ssh-rsa'],
};

/**
 * The host key algorithms to offer, those the target's known_hosts entries use first (as OpenSSH orders them).
 * When that is ssh2's default order, its own default array is returned: ssh2 then shares one prepared offer
 * among connections instead of building one (about 4.8 KB) for every connection.
 */
function hostKeyOrder(preferred: readonly string[]): string[] {
  const order = [...new Set([...preferred.filter((a) => DEFAULT_SERVER_HOST_KEY.includes(a)), ...DEFAULT_SERVER_HOST_KEY])];
  return order.every((a, i) => a === DEFAULT_SERVER_HOST_KEY[i]) ? DEFAULT_SERVER_HOST_KEY : order;
}

export function connectUpstream(o: UpstreamOptions): Promise<SshClient> {
  const { target, log } = o;
  const where = `${target.name}:${target.port}`;
  const lines = readKnownHosts(o.hostKeyCheck.knownHosts);
  const preferred = knownKeyTypes(lines, target.hostKeyNames, target.port).flatMap((t) => ALGOS_FOR_KEY_TYPE[t] ?? [t]);
  let hostKey: { status: HostKeyStatus; type: string } | undefined;
  let lastAuth: AuthAttempt | undefined;
  const started = performance.now();

  const config: ConnectConfig = {
    host: target.address,
    port: target.port,
    username: o.username,
    readyTimeout: o.timeoutMs,
    keepaliveInterval: o.alive.intervalMs,
    keepaliveCountMax: o.alive.countMax,
    ident: 'Gatehouse',
    // Only a source for the target's agent channels: `agentForward` stays off, so forwarding is asked for
    // per channel, where the client asked for it. Authentication never uses it (authHandler decides).
    ...(o.agent ? { agent: o.agent } : {}),
    algorithms: { serverHostKey: hostKeyOrder(preferred) as never },
    hostVerifier: (key: Buffer): boolean => {
      const status = checkHostKey(lines, target.hostKeyNames, target.port, key);
      hostKey = { status, type: keyTypeOf(key) };
      if (status === 'ok') return true;
      if (status === 'unknown' && o.hostKeyCheck.policy === 'accept-new') {
        appendKnownHost(o.hostKeyCheck.knownHosts, target.name, target.port, key);
        log.warn({ event: 'target.hostkey_added', host: target.name, port: target.port, keyType: hostKey.type, file: o.hostKeyCheck.knownHosts }, 'new target host key recorded (accept-new)');
        return true;
      }
      return false;
    },
    authHandler: authHandler(o, (m) => { lastAuth = m; }),
  };

  return new Promise((resolve, reject) => {
    const client = new ssh2.Client();
    let settled = false;
    client.once('ready', () => {
      settled = true;
      log.info({ event: 'target.connect', host: target.name, address: target.address, port: target.port, user: o.username, auth: lastAuth, ms: Math.round(performance.now() - started) }, 'target connected');
      resolve(client);
    });
    client.on('error', (err: Error & { level?: string; code?: string }) => {
      if (settled) return; // later errors are handled by whoever owns the connection
      settled = true;
      client.end();
      reject(upstreamError(err, where, o.username, hostKey, o.hostKeyCheck.knownHosts));
    });
    client.once('close', () => {
      if (settled) return;
      settled = true;
      reject(new BastionError('TARGET_UNREACHABLE', `connection to ${where} closed during login`, {
        userMessage: `The server ${where} closed the connection.`,
      }));
    });
    client.connect(config);
    tuneConnection(client);
  });
}

/** Describes an attempt for the log: method and, for keys, type and SHA256 fingerprint (never the key). */
interface AuthAttempt {
  readonly method: string;
  readonly keyType?: string;
  readonly fingerprint?: string;
}

function authHandler(o: UpstreamOptions, onTry: (a: AuthAttempt) => void): ConnectConfig['authHandler'] {
  const queue: { attempt: AuthAttempt; method: AnyAuthMethod }[] = [];
  const username = o.username;
  if ('privateKeys' in o.credential) {
    for (const key of o.credential.privateKeys) {
      const parsed = ssh2.utils.parseKey(key);
      const pub = parsed instanceof Error || Array.isArray(parsed) ? undefined : parsed;
      queue.push({
        attempt: { method: 'publickey', keyType: pub?.type, fingerprint: pub ? `SHA256:${createHash('sha256').update(pub.getPublicSSH()).digest('base64').replace(/=+$/, '')}` : undefined },
        method: { type: 'publickey', username, key },
      });
    }
  } else {
    for (const password of o.credential.passwords) {
      queue.push({ attempt: { method: 'password' }, method: { type: 'password', username, password } });
      // A target that asks for its password by keyboard-interactive (PAM) gets the same password.
      const prompt = (_n: string, _i: string, _l: string, prompts: Prompt[], finish: (a: string[]) => void): void => finish(prompts.map(() => password));
      queue.push({ attempt: { method: 'keyboard-interactive' }, method: { type: 'keyboard-interactive', username, prompt } });
    }
  }
  return (methodsLeft: AuthenticationType[] | null, _partial: boolean | null, _next: NextAuthHandler) => {
    for (let item = queue.shift(); item; item = queue.shift()) {
      if (methodsLeft && !methodsLeft.includes(item.method.type as AuthenticationType)) continue;
      o.log.debug({ event: 'target.auth_try', ...item.attempt }, 'trying target login');
      onTry(item.attempt);
      return item.method;
    }
    return false;
  };
}

function upstreamError(
  err: Error & { level?: string; code?: string }, where: string, user: string,
  hostKey: { status: HostKeyStatus; type: string } | undefined, knownHosts: string,
): BastionError {
  if (hostKey && hostKey.status !== 'ok' && hostKey.status !== 'unknown') {
    const code = hostKey.status === 'revoked' ? 'TARGET_HOSTKEY_REVOKED' : 'TARGET_HOSTKEY_MISMATCH';
    return new BastionError(code, `${where}: ${hostKey.type} host key does not match ${knownHosts} (${hostKey.status})`, {
      userMessage: `The host key of ${where} does not match the one Gatehouse has on record. The connection was refused; tell your administrator.`,
    });
  }
  if (hostKey?.status === 'unknown') {
    return new BastionError('TARGET_HOSTKEY_UNKNOWN', `${where}: ${hostKey.type} host key is not in ${knownHosts} (policy strict)`, {
      userMessage: `The host key of ${where} is not known to Gatehouse. The connection was refused; ask your administrator to add it.`,
    });
  }
  if (err.level === 'client-authentication') {
    return new BastionError('TARGET_AUTH_FAILED', `${where}: login as ${user} failed: ${err.message}`, {
      userMessage: `Gatehouse could not log in to ${where} as ${user}.`,
    });
  }
  const detail = err.code ?? err.message;
  return new BastionError('TARGET_UNREACHABLE', `${where}: ${detail}`, {
    cause: err, userMessage: `The server ${where} is not reachable right now.`,
  });
}
