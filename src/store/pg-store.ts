import pg from 'pg';
import { BastionError } from '../core/errors.js';
import { migratePg } from './pg-schema.js';
import type { ChannelRecord, ExpiryRules, SessionFields, SessionQuery, SessionRecord, SessionStore } from './session-db.js';
import { CHANNEL_COLUMNS, fromRow, SESSION_COLUMNS, toColumn, type Row } from './columns.js';

// The shared connection database: PostgreSQL through pg, for several Gatehouse hosts (database.url). Rows mean
// what they mean in SQLite (sqlite-store.ts): times in ms, short lists as JSON text. Writes are queued and run
// in order, those queued together in one transaction with a savepoint each (a failing write fails only its
// own caller), so that a session's put and patches never overtake one another on different pool connections.
// Reads wait for the writes queued before them, so that a reader sees its own writes.

const DELETE_BATCH = 500;
const DEFAULT_LIMIT = 1000;
const POOL_SIZE = 4;
const CONNECT_MS = 10_000;
const STATEMENT_MS = 30_000;
const INT8_OID = 20;




const insertSql = (table: string, cols: readonly string[], conflict: string, where = ''): string =>
  `INSERT INTO ${table} (${cols.join(', ')}) ${where ? `SELECT ${cols.map((_, i) => `$${i + 1}`).join(', ')} ${where}` : `VALUES (${cols.map((_, i) => `$${i + 1}`).join(', ')})`}
   ON CONFLICT (${conflict}) DO UPDATE SET ${cols.filter((c) => !conflict.split(', ').includes(c)).map((c) => `${c} = EXCLUDED.${c}`).join(', ')}`;

const UPSERT_SESSION = insertSql('sessions', SESSION_COLUMNS, 'session_id');
// A channel of a session that has no row (storage policy, or expired) is dropped, not an error.
const UPSERT_CHANNEL = insertSql('channels', CHANNEL_COLUMNS, 'session_id, seq', 'WHERE EXISTS (SELECT 1 FROM sessions WHERE session_id = $1)');

/** Where the database is, without the password, for messages. */
export function redactUrl(url: string): string {
  try {
    const u = new URL(url);
    if (u.password) u.password = '***';
    return u.toString();
  } catch {
    return 'postgres://(unparseable url)';
  }
}

type Op = { run: (c: pg.PoolClient) => Promise<void>; done: (err?: Error) => void };

export class PgSessionStore implements SessionStore {
  private queue: Op[] = [];
  private draining: Promise<void> | undefined;
  private closed = false;

  private constructor(readonly pool: pg.Pool, readonly where: string) {}

  /** Connects, and migrates the schema (several hosts starting together take turns). */
  static async open(url: string): Promise<PgSessionStore> {
    const where = redactUrl(url);
    const pool = new pg.Pool({
      connectionString: url, max: POOL_SIZE, connectionTimeoutMillis: CONNECT_MS, statement_timeout: STATEMENT_MS,
      // BIGINT (ms times, byte counts) as numbers, as SQLite gives them; set per pool, not process-wide.
      types: { getTypeParser: ((oid: number, format?: 'text' | 'binary') => (oid === INT8_OID ? Number : pg.types.getTypeParser(oid, format))) as typeof pg.types.getTypeParser },
    });
    // An idle pooled connection that breaks (the server restarted) must not end the process.
    pool.on('error', () => undefined);
    try {
      const client = await pool.connect();
      try {
        await migratePg(client, where);
      } finally {
        client.release();
      }
    } catch (err) {
      await pool.end().catch(() => undefined);
      if (err instanceof BastionError) throw err;
      throw new BastionError('STORE_UNAVAILABLE', `cannot use the session database ${where}: ${(err as Error).message}`, { cause: err });
    }
    return new PgSessionStore(pool, where);
  }

  put(rec: SessionRecord): Promise<void> {
    return this.enqueue(async (c) => {
      await c.query(UPSERT_SESSION, SESSION_COLUMNS.map((k) => toColumn(k, (rec as unknown as Row)[k])));
      await c.query('DELETE FROM channels WHERE session_id = $1', [rec.session_id]);
      for (const ch of rec.channels) await this.writeChannel(c, rec.session_id, ch);
    });
  }

  patch(id: string, fields: SessionFields): Promise<void> {
    const keys = Object.keys(fields).filter((k) => (SESSION_COLUMNS as readonly string[]).includes(k) && k !== 'session_id').sort();
    if (keys.length === 0) return Promise.resolve();
    return this.enqueue(async (c) => {
      await c.query(`UPDATE sessions SET ${keys.map((k, i) => `${k} = $${i + 2}`).join(', ')} WHERE session_id = $1`,
        [id, ...keys.map((k) => toColumn(k, (fields as Row)[k]))]);
    });
  }

  putChannel(id: string, ch: ChannelRecord): Promise<void> {
    return this.enqueue((c) => this.writeChannel(c, id, ch));
  }

  private async writeChannel(c: pg.PoolClient, id: string, ch: ChannelRecord): Promise<void> {
    await c.query(UPSERT_CHANNEL, CHANNEL_COLUMNS.map((k) => (k === 'session_id' ? id : toColumn(k, (ch as unknown as Row)[k]))));
  }

  async get(id: string): Promise<SessionRecord | undefined> {
    await this.settled();
    const { rows } = await this.pool.query<Row>('SELECT * FROM sessions WHERE session_id = $1', [id]);
    return rows.length > 0 ? (await this.withChannels(rows))[0] : undefined;
  }

  async query(q: SessionQuery): Promise<SessionRecord[]> {
    await this.settled();
    const where: string[] = [];
    const args: unknown[] = [];
    const arg = (v: unknown): string => `$${args.push(v)}`;
    if (q.user !== undefined) { const p = arg(q.user); where.push(`(gateway_user = ${p} OR server_user = ${p})`); }
    if (q.target !== undefined) { const p = arg(q.target); where.push(`(target_name = ${p} OR target_address = ${p})`); }
    if (q.policy !== undefined) where.push(`policy = ${arg(q.policy)}`);
    if (q.since !== undefined) where.push(`connected_at >= ${arg(q.since)}`);
    if (q.until !== undefined) where.push(`connected_at < ${arg(q.until)}`);
    if (q.reason === 'live') where.push('ended_at IS NULL');
    else if (q.reason !== undefined) where.push(`end_reason = ${arg(q.reason)}`);
    const sql = `SELECT * FROM sessions ${where.length ? `WHERE ${where.join(' AND ')}` : ''} ORDER BY connected_at DESC, session_id LIMIT ${arg(q.limit ?? DEFAULT_LIMIT)}`;
    return this.withChannels((await this.pool.query<Row>(sql, args)).rows);
  }

  private async withChannels(rows: Row[]): Promise<SessionRecord[]> {
    const ids = rows.map((r) => r['session_id'] as string);
    const byId = new Map<string, Row[]>();
    const { rows: chs } = await this.pool.query<Row>('SELECT * FROM channels WHERE session_id = ANY($1) ORDER BY session_id, seq', [ids]);
    for (const ch of chs) {
      const { session_id: sid, ...rest } = fromRow(ch);
      let list = byId.get(sid as string);
      if (!list) byId.set(sid as string, (list = []));
      list.push(rest);
    }
    return rows.map((r) => ({ ...fromRow(r), channels: byId.get(r['session_id'] as string) ?? [] }) as unknown as SessionRecord);
  }

  recoverCrashed(instance: string): Promise<number> {
    let n = 0;
    return this.enqueue(async (c) => {
      await c.query(`UPDATE channels SET closed_at = s.updated_at FROM sessions s
        WHERE s.session_id = channels.session_id AND channels.closed_at IS NULL AND s.ended_at IS NULL AND s.instance = $1`, [instance]);
      n = (await c.query(`UPDATE sessions SET ended_at = updated_at, end_reason = 'crashed', end_code = 'CRASHED'
        WHERE ended_at IS NULL AND instance = $1`, [instance])).rowCount ?? 0;
    }).then(() => n);
  }

  async expire(now: number, rules: ExpiryRules): Promise<number> {
    const steps: [string, number][] = [];
    if (rules.anonymousExpirySeconds > 0) steps.push(['login_at IS NULL AND ended_at IS NOT NULL AND ended_at < $1', now - rules.anonymousExpirySeconds * 1000]);
    if (rules.retentionDays > 0) steps.push(['ended_at IS NOT NULL AND ended_at < $1', now - rules.retentionDays * 86_400_000]);
    let total = 0;
    for (const [cond, before] of steps) {
      for (;;) {
        if (this.closed) return total;
        let changes = 0;
        await this.enqueue(async (c) => {
          changes = (await c.query(`DELETE FROM sessions WHERE session_id IN (SELECT session_id FROM sessions WHERE ${cond} LIMIT ${DELETE_BATCH})`, [before])).rowCount ?? 0;
        });
        total += changes;
        if (changes < DELETE_BATCH) break;
      }
    }
    return total;
  }

  async meta(key: string): Promise<string | undefined> {
    await this.settled();
    return (await this.pool.query<{ value: string }>('SELECT value FROM meta WHERE key = $1', [key])).rows[0]?.value;
  }

  setMeta(key: string, value: string): Promise<void> {
    return this.enqueue(async (c) => {
      await c.query('INSERT INTO meta (key, value) VALUES ($1, $2) ON CONFLICT (key) DO UPDATE SET value = EXCLUDED.value', [key, value]);
    });
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    await this.settled();
    await this.pool.end();
  }

  private enqueue(run: Op['run']): Promise<void> {
    if (this.closed) return Promise.reject(new BastionError('STORE_UNAVAILABLE', `session database ${this.where} is closed`));
    return new Promise((resolve, reject) => {
      this.queue.push({ run, done: (err) => (err ? reject(err) : resolve()) });
      this.kick();
    });
  }

  private kick(): void {
    if (this.draining) return;
    // A write queued after drain() saw an empty queue but before this settles is picked up here.
    this.draining = this.drain().finally(() => {
      this.draining = undefined;
      if (this.queue.length > 0) this.kick();
    });
  }

  /** Resolves once every write queued so far is done. */
  private async settled(): Promise<void> {
    while (this.draining) await this.draining;
  }

  private async drain(): Promise<void> {
    while (this.queue.length > 0) {
      const batch = this.queue.splice(0);
      let client: pg.PoolClient;
      try {
        client = await this.pool.connect();
      } catch (err) {
        for (const op of batch) op.done(new BastionError('STORE_UNAVAILABLE', `session database ${this.where}: ${(err as Error).message}`, { cause: err }));
        continue;
      }
      const results: (Error | undefined)[] = [];
      try {
        await client.query('BEGIN');
        for (const op of batch) {
          await client.query('SAVEPOINT w');
          try {
            await op.run(client);
            await client.query('RELEASE SAVEPOINT w');
            results.push(undefined);
          } catch (err) {
            await client.query('ROLLBACK TO SAVEPOINT w');
            results.push(err as Error);
          }
        }
        await client.query('COMMIT');
        client.release();
      } catch (err) {
        client.release(err as Error);
        for (const op of batch) op.done(err as Error);
        continue;
      }
      batch.forEach((op, i) => op.done(results[i]));
    }
  }
}
