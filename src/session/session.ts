import { randomUUID } from 'node:crypto';
import type { Logger } from 'pino';
import type { Client as SshClient, Connection } from 'ssh2';
import type { Policy } from '../config/config.js';
import type { BastionError } from '../errors.js';
import type { JsonObject } from '../plugins/contract.js';
import type { ResolvedTarget } from '../proxy/target-resolver.js';
import type { Runtime } from '../runtime.js';
import { endConnection } from '../ssh/connection-end.js';
import { BY_APPLICATION, CONNECTION_LOST, disconnectWith } from '../ssh/protocol-extras.js';
import type { SessionStore } from '../store/session-store.js';
import type { AaClient } from './aa-client.js';
import type { CredstoreClient } from './credstore-client.js';
import type { SharedSessionState } from './plugin-client.js';

// One Session per client connection, from TCP accept to the last byte. It moves through explicit phases,
// carries a child logger that gains `user` and `target` as they become known, and ends through one idempotent
// close(reason) that every path takes: logout, deny, plugin failure, client gone or silent, target gone or
// silent, idle timeout, an administrator's terminate, shutdown.
// close() runs session_ended exactly once for every plugin that took part.

/** How long a closed session's sockets may take to send what is queued before they are cut. */
const LINGER_MS = 10_000;
/** How long close() waits for the channel relays (and their recordings) to finish. */
const CHANNELS_MS = 2_000;

export type SessionPhase = 'login' | 'active' | 'closing' | 'closed';

export type CloseReason =
  | 'logout' | 'denied' | 'client_gone' | 'client_timeout' | 'idle_timeout' | 'login_timeout' | 'target_closed' | 'terminated'
  | 'shutdown';

export interface SessionHooks {
  readonly store: SessionStore;
  readonly onClosed: (s: Session) => void;
}

export class Session implements SharedSessionState {
  readonly id = randomUUID(); // UUID v4 from a cryptographic source
  readonly startedAt = Date.now();
  log: Logger;
  phase: SessionPhase = 'login';

  sessionCookie: JsonObject = {};
  readonly verdicts: { hook: string; verdict: string; ms: number }[] = [];
  readonly additionalMetadata: string[] = [];

  aa: AaClient | undefined;
  credstore: CredstoreClient | undefined;
  policy: Policy | undefined;
  target: ResolvedTarget | undefined;
  serverUser: string | undefined;
  gateway: { user: string; groups: string[] } | undefined;
  upstream: SshClient | undefined;
  readonly bytes = { toTarget: 0, toClient: 0 };
  /** Files this session's terminal channels were recorded to. */
  readonly recordings: string[] = [];

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
  }

  get closed(): boolean {
    return this.closing !== undefined;
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
    let timer: NodeJS.Timeout | undefined;
    await Promise.race([Promise.allSettled([...this.channels]), new Promise((r) => { timer = setTimeout(r, ms); })]);
    clearTimeout(timer);
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
    await Promise.all([this.aa, this.credstore].filter((p) => p?.tookPart).map((p) => p!.sessionEnded(hookMs)));
    const now = Date.now();
    try {
      await this.hooks.store.record({
        session_id: this.id,
        started_at: new Date(this.startedAt).toISOString(),
        ended_at: new Date(now).toISOString(),
        duration_ms: now - this.startedAt,
        client_ip: this.client.ip,
        client_port: this.client.port,
        policy: this.policy?.name ?? null,
        server_username: this.serverUser ?? null,
        target_server: this.target?.name ?? null,
        target_address: this.target?.address ?? null,
        target_port: this.target?.port ?? null,
        gateway_user: this.gateway?.user ?? null,
        gateway_groups: this.gateway?.groups ?? [],
        verdicts: this.verdicts,
        additional_metadata: this.additionalMetadata,
        end_reason: reason,
        end_code: error?.code ?? null,
        bytes_to_target: this.bytes.toTarget,
        bytes_to_client: this.bytes.toClient,
        recordings: this.recordings,
      });
    } catch (err) {
      this.log.error({ event: 'store.error', err }, 'could not record the session');
    }
    this.log.info({
      event: 'session.closed', reason, code: error?.code, wasActive, durationMs: now - this.startedAt,
      bytesToTarget: this.bytes.toTarget, bytesToClient: this.bytes.toClient,
    }, 'session closed');
    this.phase = 'closed';
    this.hooks.onClosed(this);
  }
}
