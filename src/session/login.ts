import type { Client as SshClient } from 'ssh2';
import { BastionError } from '../core/errors.js';
import type { Policy } from '../config/config.js';
import { ForwardedAgent } from '../proxy/agent-forwarding.js';
import { connectUpstream, type TargetCredential } from '../proxy/upstream.js';
import type { ResolvedTarget } from '../target/resolved-target.js';
import { parseUsername } from '../target/username.js';
import { AaClient } from './aa-client.js';
import { CredstoreClient } from './credstore-client.js';
import { makeGrant, type GatewayIdentity, type LoginGrant } from './grant.js';
import { needinfoLoop, type KeyedPrompter } from './needinfo.js';
import type { Session } from './session.js';
import { authenticateArgs, authorizeArgs, credentialArgs, type LoginFacts } from './sps-args.js';
import { chooseTarget } from './target-choice.js';

// The login of one session, in the order SPS runs it: parse the user name, pick the policy and target,
// authenticate (NEEDINFO rounds become prompts), authorize once the target and server user are known, then
// log in to the target before the client's own login is accepted, so that every failure reaches the user as
// a clear message. Throws a BastionError on every refusal; returns the frozen grant the session activates with.

export interface Prompter {
  /** Asks the user one question; rejects when the client is gone or the login is over. */
  ask(prompt: string, echo: boolean): Promise<string>;
  /** A failed answer: counted against the connection's tries, and waited for (rejects when none are left). */
  failed?(why: string): Promise<void>;
}

/** What the login reaches outside Gatehouse: DNS and the target. Tests inject their own. */
export interface LoginDeps {
  readonly chooseTarget: typeof chooseTarget;
  readonly connectUpstream: typeof connectUpstream;
}

const realWorld: LoginDeps = { chooseTarget, connectUpstream };

export async function runLogin(s: Session, username: string, prompter: Prompter, deps: LoginDeps = realWorld): Promise<LoginGrant> {
  const cfg = s.runtime.config;
  const parsed = parseUsername(username);
  if (!parsed.ok) throw new BastionError('USERNAME_INVALID', `bad user name: ${parsed.message}`, { userMessage: parsed.message });
  const request = parsed.request;
  const serverUser = request.serverUser;
  s.noteServerUser(serverUser);

  // The target is chosen now but resolved only after authentication (no DNS oracle, see target-choice.ts).
  const choice = await deps.chooseTarget(cfg, request);
  if (s.closed) throw new BastionError('CLIENT_GONE', 'session closed while the target was chosen');
  const policy = choice.policy;
  const chosen = choice.target;
  let target: ResolvedTarget = { name: chosen.name, port: chosen.port, address: chosen.address ?? '', hostKeyNames: chosen.names };
  s.noteTarget(policy, target);

  const pairs: Record<string, string> = { ...request.pairs };
  // Answers given in the user name are secrets wherever they appear (a pre-answered one-time password).
  for (const v of Object.values(pairs)) s.answers.secret(v);
  let gateway: GatewayIdentity | undefined;
  const facts = (): LoginFacts => ({ client: s.client, policy, target, serverUser, gateway });

  const plugin = s.runtime.aaPlugin(policy);
  const store = s.runtime.credentialStore(policy);
  const credstore = store && policy.targetAuth.method === 'credential_store'
    ? new CredstoreClient(store, policy.targetAuth.store.configuration, s, cfg.timeouts.pluginMs) : undefined;
  const aa = plugin && policy.aaPlugin ? new AaClient(plugin, policy.aaPlugin.configuration, s, cfg.timeouts.pluginMs) : undefined;
  s.notePlugins({ ...(aa ? { aa } : {}), ...(credstore ? { credstore } : {}) });

  let authenticated = false;
  if (aa) {
    const verdict = await needinfoLoop('authenticate', cfg.limits.needinfoRounds, pairs, asking(s, prompter), () => aa.authenticate(authenticateArgs(facts(), pairs)));
    if (verdict.verdict === 'ACCEPT') {
      authenticated = true;
      if (verdict.gateway) {
        gateway = verdict.gateway;
        s.noteGateway(gateway);
      }
      if (verdict.identity) s.noteIdentity(verdict.identity);
    }
  }
  if (!authenticated && policy.targetAuth.method !== 'password') {
    // Nobody has checked who this is: neither the plugin (None/NONE) nor, with Gatehouse's key, the target.
    throw new BastionError('NOT_AUTHENTICATED', `policy ${policy.name}: plugin performed no authentication and the target login uses Gatehouse's key`);
  }
  checkUsermapping(policy, serverUser, gateway);
  target = await choice.resolve();
  if (s.closed) throw new BastionError('CLIENT_GONE', 'session closed while the target was resolved');
  s.noteTarget(policy, target);

  if (aa) {
    await needinfoLoop('authorize', cfg.limits.needinfoRounds, pairs, asking(s, prompter), () => aa.authorize(authorizeArgs(facts(), pairs)));
  }

  // The user is known now (gateway user, else server user and address): the session limits apply before the
  // target login, and count this session from here on.
  await s.admit();
  const upstream = await connectTarget(s, facts(), credstore, prompter, deps.connectUpstream);
  return makeGrant({ policy, target, serverUser, gateway, upstream });
}

/** A prompter that tells the session's answer mask which answers were typed without echo. */
function asking(s: Session, prompter: Prompter): KeyedPrompter {
  return {
    ask: async (key, prompt, echo) => {
      const answer = await prompter.ask(prompt, echo);
      if (echo) s.answers.shown(key, answer);
      else s.answers.secret(answer);
      return answer;
    },
  };
}

function checkUsermapping(policy: Policy, serverUser: string, gw: GatewayIdentity | undefined): void {
  if (!gw || gw.user === serverUser) return;
  // spec 5.9: a gateway user other than the server user needs a usermapping that allows the pair.
  const allowed = (policy.usermapping ?? []).some((m) =>
    (m.serverUser === serverUser || m.serverUser === '*') &&
    (m.gatewayUsers.includes(gw.user) || m.gatewayUsers.includes('*') || gw.groups.some((g) => m.gatewayGroups.includes(g))));
  if (!allowed) {
    throw new BastionError('USERMAP_DENIED', `gateway user ${gw.user} may not log in as ${serverUser}: no usermapping allows it`, {
      userMessage: `${gw.user} may not log in to this server as ${serverUser}.`,
    });
  }
}

async function connectTarget(
  s: Session, f: LoginFacts, credstore: CredstoreClient | undefined, prompter: Prompter, connectUpstream: LoginDeps['connectUpstream'],
): Promise<SshClient> {
  const cfg = s.runtime.config;
  const { policy, target, serverUser } = f;
  const connect = (credential: TargetCredential): Promise<SshClient> => s.closed
    ? Promise.reject(new BastionError('CLIENT_GONE', 'session closed before the target login'))
    : connectUpstream({
    target, username: serverUser, hostKeyCheck: policy.hostKeyCheck, timeoutMs: cfg.timeouts.targetConnectMs, log: s.log, credential,
    alive: { intervalMs: cfg.ssh.targetAliveIntervalMs, countMax: cfg.ssh.targetAliveCountMax },
    ...(policy.agentForwarding ? { agent: new ForwardedAgent(s.channelContext(policy)) } : {}),
  });
  const auth = policy.targetAuth;
  if (auth.method === 'key') return connect({ privateKeys: [s.runtime.clientKey(auth.keyFile).pem] });
  if (auth.method === 'credential_store' && credstore) {
    const upstream = await fromCredentialStore(credstore, credentialArgs(f), connect);
    if (upstream) return upstream;
    s.log.info({ event: 'credential.fallback' }, 'no credential from the store worked; asking the user for the target password');
  }
  // As SPS falls back to, ask the user for the target password (never logged, never stored).
  for (let attempt = 1; ; attempt++) {
    const password = await prompter.ask(`${serverUser}@${target.name}'s password: `, false);
    try {
      return await connect({ passwords: [password] });
    } catch (err) {
      if (!isAuthFailure(err) || attempt >= cfg.limits.targetPasswordTries) throw err;
      s.log.info({ event: 'target.auth_retry', attempt }, 'target password refused; asking again');
      await prompter.failed?.('target password refused');
    }
  }
}

/**
 * Keys from the store first, then its passwords (each list asked for only when needed, spec 6.1), each list
 * tried in order within one connection. Returns undefined when nothing usable worked; the store then hears
 * nothing more about it (authentication_completed is only for success).
 */
async function fromCredentialStore(
  store: CredstoreClient, args: ReturnType<typeof credentialArgs>, connect: (c: TargetCredential) => Promise<SshClient>,
): Promise<SshClient | undefined> {
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
