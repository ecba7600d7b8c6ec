import { randomUUID } from 'node:crypto';
import type { Logger } from 'pino';
import type { Client as SshClient, Connection } from 'ssh2';
import type { Policy } from '../config/config.js';
import { settleWithin } from '../core/deadline.js';
import type { BastionError } from '../core/errors.js';
import type { JsonObject } from '../plugins/contract.js';
import type { ResolvedTarget } from '../target/resolved-target.js';
import type { Runtime } from './runtime.js';
import { endConnection } from '../ssh2x/connection-end.js';
import { BY_APPLICATION, CONNECTION_LOST, disconnectWith } from '../ssh2x/protocol-extras.js';
import type { PluginIdentity } from '../plugins/verdict.js';
import type { ChannelRecord, SessionStore } from '../store/session-db.js';
import { SessionJournal } from '../store/session-journal.js';
import type { ChannelContext, ChannelRules } from '../proxy/channel-context.js';
import type { AaClient } from './aa-client.js';
import { routeChannels } from './channel-router.js';
import type { CredstoreClient } from './credstore-client.js';
import type { GatewayIdentity, LoginGrant } from './grant.js';
import { AnswerMask, traceSummary, type TraceSink } from './hook-trace.js';
import type { SharedSessionState } from './plugin-client.js';

// One Session per client connection, from TCP accept to the last byte. It moves through explicit phases,
// carries a child logger that gains `user` and `target` as they become known, and ends through one idempotent
// close(reason) that every path takes: logout, deny, plugin failure, client gone or silent, target gone or
// silent, idle timeout, an administrator's terminate, shutdown.
// close() runs session_ended exactly once for every plugin that took part. What the session learns goes into
// its journal (store/session-journal.ts), which writes the connection database as the storage policy says.

/** How long a closed session's sockets may take to send what is queued before they are cut. */
const LINGER_MS = 10_000;
/** How long close() waits for the channel relays (and their recordings) to finish. */
const CHANNELS_MS = 2_000;

export type SessionPhase = 'login' | 'active' | 'closing' | 'closed';

export type CloseReason =
  | 'logout' | 'denied' | 'client_gone' | 'client_timeout' | 'idle_timeout' | 'login_timeout' | 'target_closed' | 'terminated'
  | 'idp_logout' | 'shutdown' | 'session_limit';

export interface SessionHooks {
  readonly store: SessionStore;
  /** Which Gatehouse writes the rows (see ConnectionDb.instance). */
  readonly instance: string;
  /**
   * Counts the session against the limits once its user is known; throws (or rejects with) SESSION_LIMIT to
   * refuse it. Asynchronous where the limits are shared by several hosts (a database round trip).
   */
  readonly admit: (s: Session) => void | Promise<void>;
  readonly onClosed: (s: Session) => void;
}

export class Session implements SharedSessionState {
  readonly id = randomUUID(); // UUID v4 from a cryptographic source
  readonly startedAt = Date.now();
  log: Logger;
  phase: SessionPhase = 'login';

  sessionCookie: JsonObject = {};
  /** Which answers a trace may show (hook-trace.ts). */
  readonly answers = new AnswerMask();
  /** With --dev, every hook call is logged in full, its secrets masked. */
  readonly trace: TraceSink | undefined;
  /** This session's record in the connection database. */
  readonly journal: SessionJournal;

  readonly bytes = { toTarget: 0, toClient: 0 };

  /** What the login has learnt so far; written only through the note* methods, in login order. */
  private readonly facts: {
    serverUser?: string;
    policy?: Policy;
    target?: ResolvedTarget;
    gateway?: GatewayIdentity;
    aa?: AaClient;
    credstore?: CredstoreClient;
    /** The identity provider's user and session that authenticated this session (plugin result `identity`). */
    identity?: PluginIdentity;
    /** What ended the session beyond its reason (e.g. which logout token), for the connection database. */
    endedBy?: string;
  } = {};
  private grant: LoginGrant | undefined;
  /** Files this session's terminal channels were recorded to. */
  private readonly recordingPaths: string[] = [];

  /** Bytes relayed when the idle sweep last saw them change, and when (see idleMs). */
  private activeBytes = 0;
  private activeAt = Date.now();
  private logFields: Record<string, string | number>;
  private closing: Promise<void> | undefined;
  private readonly closeListeners: (() => void)[] = [];
  private readonly channels = new Set<Promise<unknown>>();

  constructor(
    readonly conn: Connection,
    readonly client: { readonly ip: string; readonly port: number },
    readonly runtime: Runtime,
    private readonly rootLog: Logger,
    private readonly hooks: SessionHooks,
  ) {
    this.logFields = { sid: this.id, ip: client.ip, port: client.port };
    this.log = rootLog.child(this.logFields);
    // Nested under `trace`, so that the log's redaction of top-level key_value_pairs does not hide the masked
    // view a plugin author needs; AnswerMask has removed every secret by then.
    this.trace = runtime.dev ? (t) => {
      const shown = this.answers.show(t);
      this.log.info({ event: 'hook.trace', plugin: shown.plugin, hook: shown.hook, ms: shown.ms, trace: shown }, traceSummary(shown));
    } : undefined;
    this.journal = new SessionJournal({
      store: hooks.store, storage: runtime.config.sessions.storage, instance: hooks.instance,
      onError: (err) => this.log.error({ event: 'store.error', err: err.message }, 'could not write the session to the connection database'),
    }, { session_id: this.id, connected_at: this.startedAt, client_ip: client.ip, client_port: client.port });
  }

  noteVerdict(hook: string, verdict: string, ms: number): void {
    this.journal.verdict(hook, verdict, ms);
  }

  noteMetadata(value: string): void {
    this.journal.additionalMetadata([value]);
  }

  /** Counts this session against the session limits (after authorization); throws SESSION_LIMIT to refuse it. */
  async admit(): Promise<void> {
    await this.hooks.admit(this);
  }

  get closed(): boolean {
    return this.closing !== undefined;
  }

  get serverUser(): string | undefined {
    return this.facts.serverUser;
  }

  get policy(): Policy | undefined {
    return this.facts.policy;
  }

  get target(): ResolvedTarget | undefined {
    return this.facts.target;
  }

  get gateway(): GatewayIdentity | undefined {
    return this.facts.gateway;
  }

  get identity(): PluginIdentity | undefined {
    return this.facts.identity;
  }

  get recordings(): readonly string[] {
    return this.recordingPaths;
  }

  /** The connected target, once the login is accepted. */
  get upstream(): SshClient | undefined {
    return this.grant?.upstream;
  }

  /** The login named this server user (logged as `user`). */
  noteServerUser(user: string): void {
    this.facts.serverUser = user;
    this.bind({ user });
    this.journal.update({ server_user: user });
  }

  /** The login chose this policy and target. */
  noteTarget(policy: Policy, target: ResolvedTarget): void {
    this.facts.policy = policy;
    this.facts.target = target;
    this.bind({ policy: policy.name, target: `${target.name}:${target.port}` });
    // A target chosen but not yet resolved (resolution waits for authentication) has no address yet ('').
    this.journal.update({ policy: policy.name, target_name: target.name, target_address: target.address || null, target_port: target.port });
  }

  /** The plugins taking part in this session: each is owed session_ended once it has been called. */
  notePlugins(plugins: { aa?: AaClient; credstore?: CredstoreClient }): void {
    if (plugins.aa) this.facts.aa = plugins.aa;
    if (plugins.credstore) this.facts.credstore = plugins.credstore;
  }

  /** The AA plugin authenticated this gateway user. */
  noteGateway(gateway: GatewayIdentity): void {
    this.facts.gateway = gateway;
    this.bind({ gwuser: gateway.user });
    this.journal.update({ gateway_user: gateway.user, gateway_groups: [...gateway.groups] });
  }

  /** The AA plugin bound this session to a user and session at an identity provider. */
  noteIdentity(identity: PluginIdentity): void {
    this.facts.identity = identity;
    this.journal.update({ identity: { issuer: identity.issuer, subject: identity.subject, sid: identity.sid ?? null } });
  }

  /** Names what is about to end the session (e.g. a logout token), for the connection database. */
  noteEndedBy(detail: string): void {
    if (this.facts.endedBy !== undefined) return;
    this.facts.endedBy = detail;
    this.journal.update({ ended_by: detail });
  }

  noteRecording(path: string): void {
    this.recordingPaths.push(path);
    this.journal.recording(path);
  }

  /**
   * The only way into the active phase: the login's frozen grant. From here the session's channels are carried
   * to the target (channel-router.ts applies the policy to each).
   */
  activate(grant: LoginGrant): void {
    if (this.grant || this.closing) throw new Error('activate() on a session that is not logging in');
    this.grant = grant;
    this.phase = 'active';
    this.journal.loginAccepted();
    this.resetIdle(Date.now()); // the login's questions are not idle time
    this.log.info({ event: 'session.active', gatewayUser: grant.gateway?.user }, 'login accepted');
    routeChannels(this, grant);
  }

  /** What the channel bridges may see of this session (proxy/ never sees the Session itself). */
  channelContext(rules: ChannelRules): ChannelContext {
    let channels = 0;
    const s = this;
    return {
      sessionId: this.id,
      get log() { return s.log; },
      get closed() { return s.closed; },
      conn: this.conn,
      bytes: this.bytes,
      rules,
      recordingsDir: this.runtime.config.recordingsDir,
      trackChannel: (done) => this.trackChannel(done),
      recorded: (path) => this.noteRecording(path),
      openedChannel: (type) => {
        const seq = this.journal.openChannel(type);
        return (fields: Partial<ChannelRecord>) => this.journal.channel(seq, fields);
      },
      nextChannelId: () => ++channels,
    };
  }

  /**
   * Adds fields to every later log line of this session. The new logger is a child of the root, not of the
   * previous one, so that a long-lived session does not keep a chain of loggers (about 1 KB each).
   */
  bind(fields: Record<string, string | number>): void {
    this.logFields = { ...this.logFields, ...fields };
    this.log = this.rootLog.child(this.logFields);
  }

  /** Registers a callback run at the start of close(), e.g. to fail a pending question. */
  onClose(fn: () => void): void {
    if (this.closing) fn();
    else this.closeListeners.push(fn);
  }

  /** Registers a channel relay; the session waits for open relays before it closes on a target disconnect. */
  trackChannel(done: Promise<unknown>): void {
    this.channels.add(done);
    void done.finally(() => this.channels.delete(done));
  }

  /** Resolves when every channel relay has finished, or after `ms`. */
  async channelsDone(ms: number): Promise<void> {
    await settleWithin(Promise.allSettled([...this.channels]), ms, undefined);
  }

  /**
   * How long no data has crossed either way, as of `now`. Sampled by the registry's sweep rather than
   * stamped on every relayed chunk, so that the data path pays nothing for it.
   */
  idleMs(now: number): number {
    if (this.bytes.toTarget + this.bytes.toClient !== this.activeBytes) this.resetIdle(now);
    return now - this.activeAt;
  }

  /** Counts idle time from `now` (at login: the questions asked are not idle time). */
  resetIdle(now: number): void {
    this.activeBytes = this.bytes.toTarget + this.bytes.toClient;
    this.activeAt = now;
  }

  /**
   * Ends the session; every path goes through here and only the first call acts. `hookTimeoutMs` bounds the
   * session_ended calls (shutdown passes what is left of its deadline).
   */
  close(reason: CloseReason, error?: BastionError, hookTimeoutMs?: number): Promise<void> {
    this.closing ??= this.doClose(reason, error, hookTimeoutMs);
    return this.closing;
  }

  private async doClose(reason: CloseReason, error: BastionError | undefined, hookTimeoutMs: number | undefined): Promise<void> {
    const wasActive = this.phase === 'active';
    this.phase = 'closing';
    for (const fn of this.closeListeners.splice(0)) {
      try {
        fn();
      } catch (err) {
        this.log.error({ err }, 'close listener failed');
      }
    }
    // A logged-in user is told why the session ends (idle, shutdown, target gone), as OpenSSH tells them, e.g.
    // "Received disconnect from 10.0.0.5 port 2222:11: Gatehouse is shutting down."; a refused login has
    // been told already, and a client that stopped answering gets nothing more.
    if (wasActive && error && reason !== 'client_timeout') {
      disconnectWith(this.conn, error.code === 'TARGET_TIMEOUT' ? CONNECTION_LOST : BY_APPLICATION, error.userMessage);
    }
    // Queued output gets a while to drain, except to a client that stopped answering: it reads nothing more.
    const lingerMs = reason === 'client_timeout' ? 0 : LINGER_MS;
    if (this.upstream) endConnection(this.upstream, LINGER_MS);
    endConnection(this.conn, lingerMs);
    // Ending the connections closes their channels; let the relays finish (and recordings be complete)
    // before session_ended, so that a shutdown's exit does not cut them short. Within a shutdown's deadline
    // (hookTimeoutMs) this takes at most a quarter of it, and the hooks get what is left.
    const waitStarted = Date.now();
    await this.channelsDone(hookTimeoutMs === undefined ? CHANNELS_MS : Math.min(CHANNELS_MS, hookTimeoutMs / 4));
    const hookMs = hookTimeoutMs === undefined ? undefined : Math.max(1, hookTimeoutMs - (Date.now() - waitStarted));
    // spec 11.15: session_ended once for every plugin that took part.
    await Promise.all([this.facts.aa, this.facts.credstore].filter((p) => p?.tookPart).map((p) => p!.sessionEnded(hookMs)));
    const now = Date.now();
    // Never throws (a failed write is logged by the journal); waiting lets a shutdown close the database after.
    await this.journal.end({ reason, code: error?.code ?? null, bytes_to_target: this.bytes.toTarget, bytes_to_client: this.bytes.toClient }, now);
    this.log.info({
      event: 'session.closed', reason, code: error?.code, wasActive, durationMs: now - this.startedAt,
      bytesToTarget: this.bytes.toTarget, bytesToClient: this.bytes.toClient,
    }, 'session closed');
    this.phase = 'closed';
    this.hooks.onClosed(this);
  }
}
