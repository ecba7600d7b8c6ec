import Database, { type Database as Db, type Statement } from 'better-sqlite3';
import { closeSync, chmodSync, mkdirSync, openSync } from 'node:fs';
import { dirname } from 'node:path';
import { BastionError } from '../core/errors.js';
import type { ChannelRecord, ExpiryRules, SessionFields, SessionQuery, SessionRecord, SessionStore } from './session-db.js';
import { migrate } from './sqlite-schema.js';
import { CHANNEL_COLUMNS, fromRow, SESSION_COLUMNS, toColumn, type Row } from './columns.js';

// The embedded connection database: SQLite in WAL mode through better-sqlite3. better-sqlite3 is synchronous,
// so writes are queued and run together in one transaction FLUSH_MS later: a burst of logins costs one commit,
// not one per phase, and a caller never waits inside SQLite while it holds a socket. With WAL and
// synchronous=NORMAL a commit does not fsync: a power cut may lose the last commits, a killed process the
// writes of its last FLUSH_MS.

/** Rows deleted per statement when expiring, so that a large expiry does not hold the loop for long. */
const DELETE_BATCH = 500;
const DEFAULT_LIMIT = 1000;
/**
 * Writes wait this long to be committed together: under load one commit carries many sessions' phases. A crash
 * loses at most this much of the last writes.
 */
const FLUSH_MS = 10;

export interface SqliteOptions {
  /** For the command line: fail rather than create a database that is not there. */
  readonly mustExist?: boolean;
}

export class SqliteSessionStore implements SessionStore {
  private queue: { run: () => void; done: (err?: Error) => void }[] = [];
  private scheduled: NodeJS.Timeout | undefined;
  private readonly patches = new Map<string, Statement>();
  /**
   * Patches waiting in the queue, by session: a later patch of the same session merges into it, so that the
   * phases of a login within one flush cost one UPDATE. A put() of the session ends the merging (order).
   */
  private readonly pendingPatches = new Map<string, { readonly fields: Row; readonly done: Promise<void> }>();
  /** Channel writes waiting in the queue, by session and channel: the last state of a channel wins (one statement). */
  private readonly pendingChannels = new Map<string, { row: Row; readonly done: Promise<void> }>();
  private readonly insertSession: Statement;
  private readonly insertChannel: Statement;
  private readonly deleteChannels: Statement;
  private readonly selectChannels: Statement;
  private readonly savepoint: (fn: () => void) => void;
  private readonly runBatch: (ops: readonly { run: () => void }[]) => void;
  private closed = false;

  private constructor(private readonly db: Db, readonly file: string) {
    this.insertSession = db.prepare(`INSERT OR REPLACE INTO sessions (${SESSION_COLUMNS.join(', ')}) VALUES (${SESSION_COLUMNS.map((c) => `@${c}`).join(', ')})`);
    // A channel of a session that has no row (storage policy, or expired) is dropped, not an error: the insert
    // selects nothing then, in the same statement.
    this.insertChannel = db.prepare(`INSERT OR REPLACE INTO channels (${CHANNEL_COLUMNS.join(', ')})
      SELECT ${CHANNEL_COLUMNS.map((c) => `@${c}`).join(', ')} WHERE EXISTS (SELECT 1 FROM sessions WHERE session_id = @session_id)`);
    this.deleteChannels = db.prepare('DELETE FROM channels WHERE session_id = ?');
    this.savepoint = db.transaction((fn: () => void) => fn());
    this.runBatch = db.transaction((ops: readonly { run: () => void }[]) => { for (const op of ops) op.run(); });
    this.selectChannels = db.prepare('SELECT * FROM channels WHERE session_id IN (SELECT value FROM json_each(?)) ORDER BY session_id, seq');
  }

  /** Opens (creating it, mode 0600, unless `mustExist`) and migrates the database at `file`. */
  static open(file: string, opts: SqliteOptions = {}): SqliteSessionStore {
    let db: Db;
    try {
      if (!opts.mustExist) {
        mkdirSync(dirname(file), { recursive: true, mode: 0o700 });
        // SQLite gives the -wal and -shm files the database file's mode: create it private first.
        closeSync(openSync(file, 'a', 0o600));
        chmodSync(file, 0o600);
      }
      db = new Database(file, { fileMustExist: opts.mustExist ?? false });
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code;
      throw new BastionError('STORE_UNAVAILABLE', code === 'SQLITE_CANTOPEN'
        ? `no session database at ${file} (Gatehouse has not run with this state_dir yet)`
        : `cannot open the session database ${file}: ${(err as Error).message}`, { cause: err });
    }
    try {
      db.pragma('journal_mode = WAL');
      db.pragma('synchronous = NORMAL');
      db.pragma('foreign_keys = ON');
      db.pragma('busy_timeout = 5000');
      migrate(db, file);
      return new SqliteSessionStore(db, file);
    } catch (err) {
      db.close();
      if (err instanceof BastionError) throw err;
      throw new BastionError('STORE_UNAVAILABLE', `cannot use the session database ${file}: ${(err as Error).message}`, { cause: err });
    }
  }

  put(rec: SessionRecord): Promise<void> {
    this.pendingPatches.delete(rec.session_id);
    // Channel writes queued before this put run before it: later ones must not merge into them.
    for (const key of this.pendingChannels.keys()) if (key.startsWith(`${rec.session_id}/`)) this.pendingChannels.delete(key);
    return this.enqueue(() => {
      const row: Row = {};
      for (const c of SESSION_COLUMNS) row[c] = toColumn(c, (rec as unknown as Row)[c]);
      this.insertSession.run(row);
      this.deleteChannels.run(rec.session_id);
      for (const ch of rec.channels) this.insertChannel.run(channelRow(rec.session_id, ch));
    });
  }

  patch(id: string, fields: SessionFields): Promise<void> {
    const keys = Object.keys(fields).filter((k) => (SESSION_COLUMNS as readonly string[]).includes(k) && k !== 'session_id').sort();
    if (keys.length === 0) return Promise.resolve();
    const pending = this.pendingPatches.get(id);
    if (pending) {
      for (const k of keys) pending.fields[k] = (fields as Row)[k];
      return pending.done;
    }
    const merged: Row = {};
    for (const k of keys) merged[k] = (fields as Row)[k];
    const done = this.enqueue(() => {
      const all = Object.keys(merged).sort();
      const shape = all.join(',');
      let stmt = this.patches.get(shape);
      if (!stmt) {
        stmt = this.db.prepare(`UPDATE sessions SET ${all.map((k) => `${k} = @${k}`).join(', ')} WHERE session_id = @session_id`);
        this.patches.set(shape, stmt);
      }
      const row: Row = { session_id: id };
      for (const k of all) row[k] = toColumn(k, merged[k]);
      stmt.run(row);
    });
    this.pendingPatches.set(id, { fields: merged, done });
    return done;
  }

  putChannel(id: string, ch: ChannelRecord): Promise<void> {
    const key = `${id}/${ch.seq}`;
    const pending = this.pendingChannels.get(key);
    if (pending) {
      pending.row = channelRow(id, ch);
      return pending.done;
    }
    const entry: { row: Row; done: Promise<void> } = { row: channelRow(id, ch), done: Promise.resolve() };
    entry.done = this.enqueue(() => { this.insertChannel.run(entry.row); });
    this.pendingChannels.set(key, entry);
    return entry.done;
  }

  async get(id: string): Promise<SessionRecord | undefined> {
    this.flush();
    const row = this.db.prepare('SELECT * FROM sessions WHERE session_id = ?').get(id) as Row | undefined;
    return row ? this.withChannels([row])[0] : undefined;
  }

  async query(q: SessionQuery): Promise<SessionRecord[]> {
    this.flush();
    const where: string[] = [];
    const args: Row = { limit: q.limit ?? DEFAULT_LIMIT };
    if (q.user !== undefined) { where.push('(gateway_user = @user OR server_user = @user)'); args.user = q.user; }
    if (q.target !== undefined) { where.push('(target_name = @target OR target_address = @target)'); args.target = q.target; }
    if (q.policy !== undefined) { where.push('policy = @policy'); args.policy = q.policy; }
    if (q.since !== undefined) { where.push('connected_at >= @since'); args.since = q.since; }
    if (q.until !== undefined) { where.push('connected_at < @until'); args.until = q.until; }
    if (q.reason === 'live') where.push('ended_at IS NULL');
    else if (q.reason !== undefined) { where.push('end_reason = @reason'); args.reason = q.reason; }
    const sql = `SELECT * FROM sessions ${where.length ? `WHERE ${where.join(' AND ')}` : ''} ORDER BY connected_at DESC, session_id LIMIT @limit`;
    return this.withChannels(this.db.prepare(sql).all(args) as Row[]);
  }

  private withChannels(rows: Row[]): SessionRecord[] {
    const byId = new Map<string, Row[]>();
    const ids = rows.map((r) => r.session_id as string);
    for (const ch of this.selectChannels.all(JSON.stringify(ids)) as Row[]) {
      const { session_id: sid, ...rest } = fromRow(ch);
      let list = byId.get(sid as string);
      if (!list) byId.set(sid as string, (list = []));
      list.push(rest);
    }
    return rows.map((r) => ({ ...fromRow(r), channels: byId.get(r.session_id as string) ?? [] }) as unknown as SessionRecord);
  }

  recoverCrashed(instance: string): Promise<number> {
    let n = 0;
    return this.enqueue(() => {
      this.db.prepare(`UPDATE channels SET closed_at = (SELECT updated_at FROM sessions s WHERE s.session_id = channels.session_id)
        WHERE closed_at IS NULL AND session_id IN (SELECT session_id FROM sessions WHERE ended_at IS NULL AND instance = ?)`).run(instance);
      n = this.db.prepare(`UPDATE sessions SET ended_at = updated_at, end_reason = 'crashed', end_code = 'CRASHED'
        WHERE ended_at IS NULL AND instance = ?`).run(instance).changes;
    }).then(() => n);
  }

  async expire(now: number, rules: ExpiryRules): Promise<number> {
    const steps: [string, number][] = [];
    if (rules.anonymousExpirySeconds > 0) steps.push(['login_at IS NULL AND ended_at IS NOT NULL AND ended_at < ?', now - rules.anonymousExpirySeconds * 1000]);
    if (rules.retentionDays > 0) steps.push(['ended_at IS NOT NULL AND ended_at < ?', now - rules.retentionDays * 86_400_000]);
    let total = 0;
    for (const [cond, before] of steps) {
      const stmt = this.db.prepare(`DELETE FROM sessions WHERE rowid IN (SELECT rowid FROM sessions WHERE ${cond} LIMIT ${DELETE_BATCH})`);
      for (;;) {
        if (this.closed) return total;
        let changes = 0;
        await this.enqueue(() => { changes = stmt.run(before).changes; });
        total += changes;
        if (changes < DELETE_BATCH) break;
      }
    }
    return total;
  }

  async meta(key: string): Promise<string | undefined> {
    this.flush();
    return (this.db.prepare('SELECT value FROM meta WHERE key = ?').get(key) as { value: string } | undefined)?.value;
  }

  setMeta(key: string, value: string): Promise<void> {
    return this.enqueue(() => { this.db.prepare('INSERT OR REPLACE INTO meta (key, value) VALUES (?, ?)').run(key, value); });
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.flush();
    this.closed = true;
    this.db.close();
  }

  private enqueue(run: () => void): Promise<void> {
    if (this.closed) return Promise.reject(new BastionError('STORE_UNAVAILABLE', `session database ${this.file} is closed`));
    return new Promise((resolve, reject) => {
      this.queue.push({ run, done: (err) => (err ? reject(err) : resolve()) });
      this.scheduled ??= setTimeout(() => this.flush(), FLUSH_MS);
    });
  }

  /**
   * Runs every queued write in one transaction. If one fails, the batch is rolled back and each write is run
   * again in its own savepoint, so that a failing write fails only its own caller (the fast path pays nothing
   * for that).
   */
  private flush(): void {
    if (this.scheduled) clearTimeout(this.scheduled);
    this.scheduled = undefined;
    const batch = this.queue;
    if (batch.length === 0) return;
    this.queue = [];
    this.pendingPatches.clear();
    this.pendingChannels.clear();
    try {
      this.runBatch(batch);
      for (const op of batch) op.done();
      return;
    } catch {
      // one of them failed: isolate it below
    }
    const results: (Error | undefined)[] = [];
    try {
      this.db.transaction(() => {
        for (const op of batch) {
          try {
            this.savepoint(op.run); // nested: a savepoint, rolled back alone if it throws
            results.push(undefined);
          } catch (err) {
            results.push(err as Error);
          }
        }
      })();
    } catch (err) {
      for (const op of batch) op.done(err as Error);
      return;
    }
    batch.forEach((op, i) => op.done(results[i]));
  }
}

function channelRow(id: string, ch: ChannelRecord): Row {
  const row: Row = { session_id: id };
  for (const c of CHANNEL_COLUMNS) if (c !== 'session_id') row[c] = toColumn(c, (ch as unknown as Row)[c]);
  return row;
}
