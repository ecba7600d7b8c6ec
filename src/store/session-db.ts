// The connection database: one record per SSH connection, written when it arrives and updated as it moves on
// (login accepted, verdicts, channels, end). This file is the backend-neutral contract; sqlite-store.ts is
// the embedded implementation, and a shared one (PostgreSQL, for several Gatehouse hosts) can follow without
// touching the session code. Every method is asynchronous for that reason, even where SQLite is not.
//
// Nothing secret is ever part of a record: no answers, passwords, key material or key_value_pairs. The types
// below have no field that could carry one, and the jsonl import keeps only these fields.

import type { StoragePolicy } from '../config/sessions-config.js';

/** When sessions are stored (the seed's "Sitzungsspeicherung"): config.yaml's sessions.storage. */
export type { StoragePolicy } from '../config/sessions-config.js';

export interface VerdictRecord {
  readonly hook: string;
  readonly verdict: string;
  /** When the hook answered (ISO 8601). */
  readonly at: string;
  readonly ms: number;
}

export interface ChannelRecord {
  /** Order of opening within the session, from 1. */
  readonly seq: number;
  /** session, direct-tcpip, forwarded-tcpip, x11, auth-agent@openssh.com ... */
  readonly type: string;
  /** shell, exec, subsystem, or null before the request arrives (and for forwardings). */
  readonly request: string | null;
  readonly command: string | null;
  readonly subsystem: string | null;
  readonly opened_at: string;
  readonly closed_at: string | null;
  readonly bytes_to_target: number;
  readonly bytes_to_client: number;
  readonly exit_status: number | null;
  readonly exit_signal: string | null;
}

export interface SessionRecord {
  readonly session_id: string;
  /** The Gatehouse host that served it (several may share one database). */
  readonly instance: string;
  readonly connected_at: string;
  /** When the client's login was accepted; null for a session that never logged in ("anonymous"). */
  readonly login_at: string | null;
  readonly ended_at: string | null;
  /** The last write: a crashed session's end time. */
  readonly updated_at: string;
  readonly client_ip: string;
  readonly client_port: number;
  readonly policy: string | null;
  readonly server_user: string | null;
  readonly target_name: string | null;
  readonly target_address: string | null;
  readonly target_port: number | null;
  readonly gateway_user: string | null;
  readonly gateway_groups: readonly string[];
  readonly verdicts: readonly VerdictRecord[];
  readonly additional_metadata: readonly string[];
  readonly channels: readonly ChannelRecord[];
  readonly recordings: readonly string[];
  /** logout, denied, terminated, crashed ...; null while live. */
  readonly end_reason: string | null;
  readonly end_code: string | null;
  readonly bytes_to_target: number;
  readonly bytes_to_client: number;
  /** The identity-provider session a plugin bound this session to (back-channel logout ends it). */
  readonly identity: { readonly issuer: string; readonly subject: string; readonly sid: string | null } | null;
  /** What ended the session when that is more than its reason, such as the logout token's jti. */
  readonly ended_by: string | null;
}

/** The fields of a session row that change after it is written (everything but the channels). */
export type SessionFields = Partial<Omit<SessionRecord, 'session_id' | 'channels' | 'connected_at' | 'client_ip' | 'client_port' | 'instance'>>;

export interface SessionQuery {
  /** Gateway user or server user. */
  readonly user?: string;
  /** Target name or address. */
  readonly target?: string;
  readonly policy?: string;
  /** Connected at or after (ms since the epoch). */
  readonly since?: number;
  /** Connected before (ms since the epoch). */
  readonly until?: number;
  /** End reason; "live" for sessions not ended. */
  readonly reason?: string;
  /** Newest first; at most this many (default 1000). */
  readonly limit?: number;
}

export interface ExpiryRules {
  /** Rows of sessions that never logged in are removed this long after they ended; 0 keeps them. */
  readonly anonymousExpirySeconds: number;
  /** Every ended row is removed this long after it ended; 0 keeps them. */
  readonly retentionDays: number;
}

export interface SessionStore {
  /** Inserts the whole record, or replaces it (and its channels) when the id exists. */
  put(rec: SessionRecord): Promise<void>;
  /** Changes fields of an existing row (no-op for an unknown id); `updated_at` is set by the caller. */
  patch(id: string, fields: SessionFields): Promise<void>;
  /** Inserts or replaces one channel of an existing session. */
  putChannel(id: string, ch: ChannelRecord): Promise<void>;
  get(id: string): Promise<SessionRecord | undefined>;
  query(q: SessionQuery): Promise<SessionRecord[]>;
  /**
   * Closes the rows this instance left live when it last stopped without ending them (a crash, kill -9) with
   * reason `crashed` at their last write. Returns how many.
   */
  recoverCrashed(instance: string): Promise<number>;
  /** Removes what the rules say has expired as of `now` (ms); returns how many rows went. */
  expire(now: number, rules: ExpiryRules): Promise<number>;
  /** Bookkeeping values of Gatehouse itself (such as "the jsonl file was imported"). */
  meta(key: string): Promise<string | undefined>;
  setMeta(key: string, value: string): Promise<void>;
  close(): Promise<void>;
}
