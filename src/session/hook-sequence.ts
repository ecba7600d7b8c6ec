import { randomUUID } from 'node:crypto';
import type { Logger } from 'pino';
import { BastionError } from '../core/errors.js';
import type { JsonObject } from '../plugins/contract.js';
import type { Policy } from '../config/config.js';
import type { PluginHandle } from '../plugins/plugin-host.js';
import type { LoginRequest } from '../target/username.js';
import { AaClient } from './aa-client.js';
import { CredstoreClient } from './credstore-client.js';
import { AnswerMask, type ShownTrace } from './hook-trace.js';
import { needinfoLoop, type KeyedPrompter } from './needinfo.js';
import type { SharedSessionState } from './plugin-client.js';
import { authenticateArgs, authorizeArgs, credentialArgs, type LoginFacts } from './sps-args.js';

// A plugin's hook sequence as a login runs it, without SSH (`gatehouse plugin try`): the same clients, NEEDINFO
// loop and result checks as a real session, with the questions asked through `prompter` and every call handed
// to `trace` with its secrets masked. AA plugins: authenticate (NEEDINFO rounds), authorize, session_ended.
// Credential stores: get_private_key_list, get_password_list when no key came back, authentication_completed
// as if the target accepted a credential, session_ended.

export interface SequenceOptions {
  readonly plugin: PluginHandle;
  readonly configuration: string;
  readonly request: LoginRequest;
  readonly client: { readonly ip: string; readonly port: number };
  readonly target: { readonly name: string; readonly address: string; readonly port: number };
  readonly connectionName: string;
  readonly timeoutMs: number;
  readonly needinfoRounds: number;
  readonly prompter: KeyedPrompter;
  readonly trace: (t: ShownTrace) => void;
  readonly log: Logger;
  /** For a credential store: what an AA plugin would have set. */
  readonly gateway?: { readonly user: string; readonly groups: readonly string[] } | undefined;
  readonly sessionCookie?: JsonObject | undefined;
}

export type SequenceOutcome = 'ACCEPT' | 'NONE' | 'DENY' | 'FAILED' | 'CREDENTIALS' | 'NO_CREDENTIALS';

export interface SequenceResult {
  readonly sessionId: string;
  readonly outcome: SequenceOutcome;
  readonly code?: string;
  /** What the user would read. */
  readonly userMessage?: string;
  readonly gateway?: { readonly user: string; readonly groups: readonly string[] } | undefined;
  readonly credentials?: { readonly privateKeys: number; readonly passwords: number };
}

export async function runHookSequence(o: SequenceOptions): Promise<SequenceResult> {
  const answers = new AnswerMask();
  const state: SharedSessionState = {
    id: randomUUID(),
    closed: false,
    log: o.log,
    sessionCookie: o.sessionCookie ?? {},
    // No connection database here: the trace shows every verdict.
    noteVerdict: () => undefined,
    noteMetadata: () => undefined,
    trace: (t) => o.trace(answers.show(t)),
  };
  const pairs: Record<string, string> = { ...o.request.pairs };
  for (const v of Object.values(pairs)) answers.secret(v);
  const prompter: KeyedPrompter = {
    ask: async (key, prompt, echo) => {
      const a = await o.prompter.ask(key, prompt, echo);
      if (echo) answers.shown(key, a);
      else answers.secret(a);
      return a;
    },
  };
  const failed = (err: unknown): SequenceResult => {
    if (!(err instanceof BastionError)) throw err; // not the plugin's doing (no answer to a question): the caller's
    const e: BastionError = err;
    return { sessionId: state.id, outcome: e.code === 'DENIED_BY_PLUGIN' ? 'DENY' : 'FAILED', code: e.code, userMessage: e.userMessage };
  };
  // The argument builders read the policy's name only (connection_name): `plugin try` has no config.yaml.
  const policy = { name: o.connectionName } as unknown as Policy;
  const target = { ...o.target, hostKeyNames: [] };
  let gateway = o.gateway;
  const facts = (): LoginFacts => ({ client: o.client, policy, target, serverUser: o.request.serverUser, gateway });

  if (o.plugin.manifest.type === 'credentialstore') {
    const store = new CredstoreClient(o.plugin, o.configuration, state, o.timeoutMs);
    const args = credentialArgs(facts());
    try {
      const keys = await store.privateKeys(args);
      const passwords = keys.length > 0 ? [] : await store.passwords(args);
      const found = keys.length + passwords.length > 0;
      if (found) await store.authenticationCompleted();
      return { sessionId: state.id, outcome: found ? 'CREDENTIALS' : 'NO_CREDENTIALS', credentials: { privateKeys: keys.length, passwords: passwords.length } };
    } catch (err) {
      return failed(err);
    } finally {
      if (store.tookPart) await store.sessionEnded();
    }
  }

  const aa = new AaClient(o.plugin, o.configuration, state, o.timeoutMs);
  try {
    const verdict = await needinfoLoop('authenticate', o.needinfoRounds, pairs, prompter, () => aa.authenticate(authenticateArgs(facts(), pairs)));
    if (verdict.verdict === 'ACCEPT' && verdict.gateway) gateway = verdict.gateway;
    await needinfoLoop('authorize', o.needinfoRounds, pairs, prompter, () => aa.authorize(authorizeArgs(facts(), pairs)));
    return { sessionId: state.id, outcome: verdict.verdict === 'NONE' ? 'NONE' : 'ACCEPT', gateway };
  } catch (err) {
    return failed(err);
  } finally {
    if (aa.tookPart) await aa.sessionEnded();
  }
}
