import { appendFile, mkdir } from 'node:fs/promises';
import { dirname } from 'node:path';

// The connection database: one JSON line per finished session in <state_dir>/sessions.jsonl, with what an
// auditor searches for (who, from where, to which server, which verdicts, SPS additional_metadata, why it
// ended). It never holds secrets: no answers, passwords, key material or key_value_pairs.

export interface SessionRecord {
  readonly session_id: string;
  readonly started_at: string;
  readonly ended_at: string;
  readonly duration_ms: number;
  readonly client_ip: string;
  readonly client_port: number;
  readonly policy: string | null;
  readonly server_username: string | null;
  readonly target_server: string | null;
  readonly target_address: string | null;
  readonly target_port: number | null;
  readonly gateway_user: string | null;
  readonly gateway_groups: readonly string[];
  readonly verdicts: readonly { hook: string; verdict: string; ms: number }[];
  readonly additional_metadata: readonly string[];
  readonly end_reason: string;
  readonly end_code: string | null;
  readonly bytes_to_target: number;
  readonly bytes_to_client: number;
  /** asciicast files of the session's terminal channels (policy record_sessions). */
  readonly recordings: readonly string[];
  /** The identity provider's issuer, subject and session id the session was bound to (plugin result `identity`). */
  readonly identity?: { readonly issuer: string; readonly subject: string; readonly sid: string | null } | null;
  /** What ended the session beyond end_reason, e.g. "logout_token jti=..." for idp_logout. */
  readonly ended_by?: string | null;
}

export interface SessionStore {
  record(r: SessionRecord): Promise<void>;
}

export class JsonlSessionStore implements SessionStore {
  private ready: Promise<unknown> | undefined;
  // Appends are chained so that lines never interleave.
  private tail: Promise<void> = Promise.resolve();

  constructor(private readonly file: string) {}

  record(r: SessionRecord): Promise<void> {
    this.ready ??= mkdir(dirname(this.file), { recursive: true, mode: 0o700 });
    const line = `${JSON.stringify(r)}\n`;
    const write = this.tail.catch(() => undefined).then(async () => {
      await this.ready;
      await appendFile(this.file, line, { mode: 0o600 });
    });
    this.tail = write;
    return write;
  }
}
