import type { Client as SshClient } from 'ssh2';
import { BastionError } from '../errors.js';
import type { Verdict } from '../plugins/verdict.js';
import { ForwardedAgent } from '../proxy/agent-forwarding.js';
import { chooseTarget } from '../proxy/target-resolver.js';
import { connectUpstream, type TargetCredential } from '../proxy/upstream.js';
import { parseUsername } from '../ssh/username.js';
import { AaClient } from './aa-client.js';
import { CredstoreClient } from './credstore-client.js';
import type { Session } from './session.js';

// The login of one session, in the order SPS runs it: parse the user name, pick the policy and target,
// authenticate (NEEDINFO rounds become prompts), authorize once the target and server user are known, then
// log in to the target before the client's own login is accepted, so that every failure reaches the user as
// a clear message. Throws a BastionError on every refusal; returns the connected target.

export interface Prompter {
  /** Asks the user one question; rejects when the client is gone or the login is over. */
  ask(prompt: string, echo: boolean): Promise<string>;
}

export async function runLogin(s: Session, username: string, prompter: Prompter): Promise<SshClient> {
  const cfg = s.runtime.config;
  const parsed = parseUsername(username);
  if (!parsed.ok) throw new BastionError('USERNAME_INVALID', `bad user name: ${parsed.message}`, { userMessage: parsed.message });
  const request = parsed.request;
  s.serverUser = request.serverUser;
  s.bind({ user: request.serverUser });

  const { policy, target } = await withDeadline(chooseTarget(cfg, request), cfg.timeouts.targetConnectMs, resolveTimeout(request.target?.host));
  if (s.closed) throw new BastionError('CLIENT_GONE', 'session closed while the target was resolved');
  s.policy = policy;
  s.target = target;
  s.bind({ policy: policy.name, target: `${target.name}:${target.port}` });

  const pairs: Record<string, string> = { ...request.pairs };
  const base = {
    protocol: 'ssh' as const,
    connection_name: policy.name,
    client_ip: s.client.ip,
    client_port: s.client.port,
    client_hostname: null,
    gateway_domain: null,
    server_domain: null,
  };

  const plugin = s.runtime.aaPlugin(policy);
  const store = s.runtime.credentialStore(policy);
  if (store && policy.targetAuth.method === 'credential_store') {
    s.credstore = new CredstoreClient(store, policy.targetAuth.store.configuration, s, cfg.timeouts.pluginMs);
  }
  let authenticated = false;
  if (plugin && policy.aaPlugin) {
    const aa = new AaClient(plugin, policy.aaPlugin.configuration, s, cfg.timeouts.pluginMs);
    s.aa = aa;
    const verdict = await needinfoLoop('authenticate', cfg.limits.needinfoRounds, pairs, prompter, () => aa.authenticate({
      ...base,
      gateway_user: s.gateway?.user ?? null,
      server_username: request.serverUser,
      key_value_pairs: { ...pairs },
      target_server: target.name,
      target_port: target.port,
      target_username: request.serverUser,
    }));
    if (verdict.verdict === 'ACCEPT') {
      authenticated = true;
      if (verdict.gateway) {
        s.gateway = verdict.gateway;
        s.bind({ gwuser: verdict.gateway.user });
      }
    }
  }
  if (!authenticated && policy.targetAuth.method !== 'password') {
    // Nobody has checked who this is: neither the plugin (None/NONE) nor, with Gatehouse's key, the target.
    throw new BastionError('NOT_AUTHENTICATED', `policy ${policy.name}: plugin performed no authentication and the target login uses Gatehouse's key`);
  }
  checkUsermapping(s);

  if (s.aa) {
    const aa = s.aa;
    await needinfoLoop('authorize', cfg.limits.needinfoRounds, pairs, prompter, () => aa.authorize({
      ...base,
      gateway_user: s.gateway?.user ?? null,
      gateway_groups: s.gateway?.groups ?? [],
      key_value_pairs: { ...pairs },
      server_ip: target.address,
      server_port: target.port,
      server_hostname: target.name === target.address ? null : target.name,
      server_username: request.serverUser,
      target_server: target.name,
      target_port: target.port,
      target_username: request.serverUser,
    }));
  }

  return connectTarget(s, prompter);
}

async function needinfoLoop(
  hook: 'authenticate' | 'authorize', maxRounds: number, pairs: Record<string, string>, prompter: Prompter, call: () => Promise<Verdict>,
): Promise<Verdict> {
  for (let round = 0; ; round++) {
    const v = await call();
    switch (v.verdict) {
      case 'ACCEPT':
      case 'NONE':
        return v;
      case 'DENY':
        throw new BastionError('DENIED_BY_PLUGIN', `${hook} denied${v.reason ? `: ${v.reason}` : ''}`, v.reason ? { userMessage: v.reason } : {});
      case 'NEEDINFO':
        if (round + 1 > maxRounds) throw new BastionError('NEEDINFO_LIMIT', `${hook} asked more than ${maxRounds} questions`);
        pairs[v.question.key] = await prompter.ask(v.question.prompt, !v.question.noEcho);
    }
  }
}

function checkUsermapping(s: Session): void {
  const gw = s.gateway;
  const serverUser = s.serverUser!;
  if (!gw || gw.user === serverUser) return;
  // spec 5.9: a gateway user other than the server user needs a usermapping that allows the pair.
  const allowed = (s.policy!.usermapping ?? []).some((m) =>
    (m.serverUser === serverUser || m.serverUser === '*') &&
    (m.gatewayUsers.includes(gw.user) || m.gatewayUsers.includes('*') || gw.groups.some((g) => m.gatewayGroups.includes(g))));
  if (!allowed) {
    throw new BastionError('USERMAP_DENIED', `gateway user ${gw.user} may not log in as ${serverUser}: no usermapping allows it`, {
      userMessage: `${gw.user} may not log in to this server as ${serverUser}.`,
    });
  }
}

async function connectTarget(s: Session, prompter: Prompter): Promise<SshClient> {
  const cfg = s.runtime.config;
  const policy = s.policy!;
  const target = s.target!;
  const connect = (credential: TargetCredential): Promise<SshClient> => s.closed
    ? Promise.reject(new BastionError('CLIENT_GONE', 'session closed before the target login'))
    : connectUpstream({
    target, username: s.serverUser!, hostKeyCheck: policy.hostKeyCheck, timeoutMs: cfg.timeouts.targetConnectMs, log: s.log, credential,
    alive: { intervalMs: cfg.ssh.targetAliveIntervalMs, countMax: cfg.ssh.targetAliveCountMax },
    ...(policy.agentForwarding ? { agent: new ForwardedAgent(s) } : {}),
  });
  const auth = policy.targetAuth;
  if (auth.method === 'key') return connect({ privateKeys: [s.runtime.clientKey(auth.keyFile).pem] });
  if (auth.method === 'credential_store') {
    const upstream = await fromCredentialStore(s, connect);
    if (upstream) return upstream;
    s.log.info({ event: 'credential.fallback' }, 'no credential from the store worked; asking the user for the target password');
  }
  // As SPS falls back to, ask the user for the target password (never logged, never stored).
  for (let attempt = 1; ; attempt++) {
    const password = await prompter.ask(`${s.serverUser}@${target.name}'s password: `, false);
    try {
      return await connect({ passwords: [password] });
    } catch (err) {
      if (!isAuthFailure(err) || attempt >= cfg.limits.targetPasswordTries) throw err;
      s.log.info({ event: 'target.auth_retry', attempt }, 'target password refused; asking again');
    }
  }
}

/**
 * Keys from the store first, then its passwords (each list asked for only when needed, spec 6.1), each list
 * tried in order within one connection. Returns undefined when nothing usable worked; the store then hears
 * nothing more about it (authentication_completed is only for success).
 */
async function fromCredentialStore(s: Session, connect: (c: TargetCredential) => Promise<SshClient>): Promise<SshClient | undefined> {
  const store = s.credstore!;
  const target = s.target!;
  const args = {
    protocol: 'ssh' as const,
    client_hostname: null,
    client_ip: s.client.ip,
    gateway_username: s.gateway?.user ?? null,
    gateway_password: '', // Gatehouse's gateway authentication is the AA plugin; it reveals no password
    gateway_groups: s.gateway?.groups ?? [],
    gateway_domain: null,
    server_username: s.serverUser!,
    server_ip: target.address,
    server_hostname: target.name === target.address ? null : target.name,
    server_port: target.port,
    server_domain: null,
    target_username: s.serverUser!,
    target_host: target.address,
    target_port: target.port,
    target_domain: null,
  };
  const attempts: (() => Promise<TargetCredential | undefined>)[] = [
    async () => {
      const keys = await store.privateKeys(args);
      return keys.length > 0 ? { privateKeys: keys.map((k) => Buffer.from(k.pem)) } : undefined;
    },
    async () => {
      const passwords = await store.passwords(args);
      return passwords.length > 0 ? { passwords } : undefined;
    },
  ];
  for (const next of attempts) {
    const credential = await next();
    if (!credential) continue;
    try {
      const upstream = await connect(credential);
      await store.authenticationCompleted();
      return upstream;
    } catch (err) {
      if (!isAuthFailure(err)) throw err;
    }
  }
  return undefined;
}

function isAuthFailure(err: unknown): boolean {
  return err instanceof BastionError && err.code === 'TARGET_AUTH_FAILED';
}

function resolveTimeout(host: string | undefined): BastionError {
  return new BastionError('TARGET_RESOLVE_FAILED', `resolving ${host ?? 'the target'} timed out`, {
    userMessage: `The server name "${host ?? ''}" could not be resolved in time.`,
  });
}

/** Rejects with `onTimeout` if `p` has not settled within `ms`. */
export function withDeadline<T>(p: Promise<T>, ms: number, onTimeout: BastionError): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  return Promise.race([
    p,
    new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(onTimeout), ms);
    }),
  ]).finally(() => clearTimeout(timer));
}
