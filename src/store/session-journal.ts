import type { ChannelRecord, SessionFields, SessionRecord, SessionStore, StoragePolicy } from './session-db.js';

// One session's record as it grows, and the storage policy that decides when it reaches the database:
//   persistent     the row is written when the connection arrives and updated at every phase;
//   authenticated  the row is first written (whole) when the login is accepted; a refused login leaves none;
//   ended          the whole record is written once, when the session ends;
//   none           nothing is written (the live session is still listed by the registry).
// Writes are not awaited by the session (the store batches them off the hot path); a failing write is reported
// to onError and the session goes on. end() returns once the last write is done, so that a shutdown can wait.

type Mutable<T> = { -readonly [K in keyof T]: T[K] };

export interface JournalOptions {
  readonly store: SessionStore;
  readonly storage: StoragePolicy;
  readonly instance: string;
  readonly onError: (err: Error) => void;
}

export interface SessionStart {
  readonly session_id: string;
  readonly connected_at: number;
  readonly client_ip: string;
  readonly client_port: number;
}

export interface SessionEnd {
  readonly reason: string;
  readonly code: string | null;
  readonly bytes_to_target: number;
  readonly bytes_to_client: number;
}

const iso = (ms: number): string => new Date(ms).toISOString();

export class SessionJournal {
  private readonly rec: Mutable<SessionRecord>;
  private readonly channels: Mutable<ChannelRecord>[] = [];
  private written = false;
  private ended = false;
  private last: Promise<void> = Promise.resolve();

  constructor(private readonly opts: JournalOptions, start: SessionStart) {
    const at = iso(start.connected_at);
    this.rec = {
      session_id: start.session_id, instance: opts.instance, connected_at: at, login_at: null, ended_at: null, updated_at: at,
      client_ip: start.client_ip, client_port: start.client_port, policy: null, server_user: null, target_name: null,
      target_address: null, target_port: null, gateway_user: null, gateway_groups: [], verdicts: [], additional_metadata: [],
      channels: this.channels, recordings: [], end_reason: null, end_code: null, bytes_to_target: 0, bytes_to_client: 0,
      identity: null, ended_by: null,
    };
    if (opts.storage === 'persistent') this.putWhole();
  }

  /** A copy of the record as it stands (what the database holds, or will once the policy writes it). */
  snapshot(): SessionRecord {
    return { ...this.rec, channels: this.channels.map((c) => ({ ...c })) };
  }

  /** Records fields of the session (policy, target, users ...); written now if the row exists. */
  update(fields: SessionFields): void {
    if (this.ended) return;
    Object.assign(this.rec, fields);
    this.patch(fields);
  }

  /** The client's login was accepted: under `authenticated` this is when the row is first written. */
  loginAccepted(at = Date.now()): void {
    if (this.ended) return;
    this.rec.login_at = iso(at);
    if (this.opts.storage === 'authenticated' && !this.written) this.putWhole();
    else this.patch({ login_at: this.rec.login_at });
  }

  verdict(hook: string, verdict: string, ms: number, at = Date.now()): void {
    this.update({ verdicts: [...this.rec.verdicts, { hook, verdict, at: iso(at), ms }] });
  }

  additionalMetadata(values: readonly string[]): void {
    if (values.length > 0) this.update({ additional_metadata: [...this.rec.additional_metadata, ...values] });
  }

  recording(path: string): void {
    this.update({ recordings: [...this.rec.recordings, path] });
  }

  /** A channel was opened; returns its number for channel(). */
  openChannel(type: string, at = Date.now()): number {
    const ch: Mutable<ChannelRecord> = {
      seq: this.channels.length + 1, type, request: null, command: null, subsystem: null, opened_at: iso(at), closed_at: null,
      bytes_to_target: 0, bytes_to_client: 0, exit_status: null, exit_signal: null,
    };
    this.channels.push(ch);
    this.writeChannel(ch);
    return ch.seq;
  }

  /** Updates channel `seq` (its request, command, bytes, exit status, closed_at). */
  channel(seq: number, fields: Partial<Omit<ChannelRecord, 'seq' | 'type' | 'opened_at'>>): void {
    const ch = this.channels[seq - 1];
    if (!ch || this.ended) return;
    Object.assign(ch, fields);
    this.writeChannel(ch);
  }

  /** The session ended: its last write. Resolves when every write of this session is done. */
  end(e: SessionEnd, at = Date.now()): Promise<void> {
    if (this.ended) return this.last;
    const endedAt = iso(at);
    for (const ch of this.channels) ch.closed_at ??= endedAt;
    const fields = { ended_at: endedAt, end_reason: e.reason, end_code: e.code, bytes_to_target: e.bytes_to_target, bytes_to_client: e.bytes_to_client };
    Object.assign(this.rec, fields);
    const storage = this.opts.storage;
    if (storage === 'ended') this.putWhole();
    else if (this.written) {
      for (const ch of this.channels) this.writeChannel(ch);
      this.patch(fields);
    }
    this.ended = true;
    return this.last;
  }

  private putWhole(): void {
    this.written = true;
    this.rec.updated_at = iso(Date.now());
    this.track(this.opts.store.put(this.snapshot()));
  }

  private patch(fields: SessionFields): void {
    if (!this.written) return;
    this.rec.updated_at = iso(Date.now());
    this.track(this.opts.store.patch(this.rec.session_id, { ...fields, updated_at: this.rec.updated_at }));
  }

  private writeChannel(ch: ChannelRecord): void {
    if (!this.written) return;
    this.rec.updated_at = iso(Date.now());
    this.track(this.opts.store.putChannel(this.rec.session_id, { ...ch }));
    this.track(this.opts.store.patch(this.rec.session_id, { updated_at: this.rec.updated_at }));
  }

  /** The store runs writes in order, so the newest one settling means every earlier one has. */
  private track(p: Promise<void>): void {
    this.last = p.catch((err: Error) => this.opts.onError(err));
  }
}
