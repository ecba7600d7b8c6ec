import type { PoolClient } from 'pg';
import { BastionError } from '../core/errors.js';
import { SCHEMA_VERSION } from './sqlite-schema.js';

// The PostgreSQL schema: the same numbered migrations as SQLite's (sqlite-schema.ts), step for step, written
// in PostgreSQL's dialect. Times are milliseconds since the epoch (BIGINT), as in SQLite, so that rows mean
// the same in both. gatehouse_schema holds the version; several Gatehouse hosts starting at once migrate one
// after the other under an advisory lock, each step in its own transaction.

export const PG_MIGRATIONS: readonly string[] = [
  // 1: one row per session; the short lists (verdicts, metadata, groups, recordings) are JSON text.
  `CREATE TABLE sessions (
     session_id TEXT PRIMARY KEY,
     connected_at BIGINT NOT NULL,
     login_at BIGINT,
     ended_at BIGINT,
     client_ip TEXT NOT NULL,
     client_port INTEGER NOT NULL,
     policy TEXT,
     server_user TEXT,
     target_name TEXT,
     target_address TEXT,
     target_port INTEGER,
     gateway_user TEXT,
     gateway_groups TEXT NOT NULL DEFAULT '[]',
     verdicts TEXT NOT NULL DEFAULT '[]',
     additional_metadata TEXT NOT NULL DEFAULT '[]',
     recordings TEXT NOT NULL DEFAULT '[]',
     end_reason TEXT,
     end_code TEXT,
     bytes_to_target BIGINT NOT NULL DEFAULT 0,
     bytes_to_client BIGINT NOT NULL DEFAULT 0
   );
   CREATE INDEX sessions_connected ON sessions (connected_at);`,
  // 2: crash recovery (the last write per row, and which host wrote it), channels, and the indexes history
  // queries use.
  `ALTER TABLE sessions ADD COLUMN instance TEXT NOT NULL DEFAULT '';
   ALTER TABLE sessions ADD COLUMN updated_at BIGINT NOT NULL DEFAULT 0;
   UPDATE sessions SET updated_at = COALESCE(ended_at, connected_at);
   CREATE INDEX sessions_live ON sessions (instance) WHERE ended_at IS NULL;
   CREATE INDEX sessions_ended ON sessions (ended_at) WHERE ended_at IS NOT NULL;
   CREATE INDEX sessions_gateway_user ON sessions (gateway_user);
   CREATE INDEX sessions_server_user ON sessions (server_user);
   CREATE TABLE channels (
     session_id TEXT NOT NULL REFERENCES sessions (session_id) ON DELETE CASCADE,
     seq INTEGER NOT NULL,
     type TEXT NOT NULL,
     request TEXT,
     command TEXT,
     subsystem TEXT,
     opened_at BIGINT NOT NULL,
     closed_at BIGINT,
     bytes_to_target BIGINT NOT NULL DEFAULT 0,
     bytes_to_client BIGINT NOT NULL DEFAULT 0,
     exit_status INTEGER,
     exit_signal TEXT,
     PRIMARY KEY (session_id, seq)
   );
   CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);`,
  // 3: the identity-provider session a plugin bound the session to (JSON: issuer, subject, sid), and what
  // ended it from outside (e.g. the provider's back-channel logout), as in SQLite's step 3.
  `ALTER TABLE sessions ADD COLUMN identity TEXT;
   ALTER TABLE sessions ADD COLUMN ended_by TEXT;`,
];

if (PG_MIGRATIONS.length !== SCHEMA_VERSION) {
  // A step added to one dialect only would make the two backends disagree on what a version means.
  throw new Error(`PostgreSQL migrations (${PG_MIGRATIONS.length}) and SQLite migrations (${SCHEMA_VERSION}) differ in number`);
}

/** Any 64-bit number, the same for every Gatehouse: the advisory lock migrations take. */
const MIGRATION_LOCK = 0x6761_7465;

/** Brings the database to `target` (default: newest); returns the version it was at. */
export async function migratePg(client: PoolClient, where: string, target = PG_MIGRATIONS.length): Promise<number> {
  await client.query('SELECT pg_advisory_lock($1)', [MIGRATION_LOCK]);
  try {
    await client.query('CREATE TABLE IF NOT EXISTS gatehouse_schema (version INTEGER NOT NULL)');
    const rows = (await client.query<{ version: number }>('SELECT version FROM gatehouse_schema')).rows;
    if (rows.length === 0) await client.query('INSERT INTO gatehouse_schema (version) VALUES (0)');
    const from = rows[0]?.version ?? 0;
    if (from > PG_MIGRATIONS.length) {
      throw new BastionError('STORE_SCHEMA_NEWER',
        `${where} has schema version ${from}, newer than the ${PG_MIGRATIONS.length} this Gatehouse knows: it was written by a newer Gatehouse; run that one`);
    }
    for (let v = from; v < target; v++) {
      await client.query('BEGIN');
      try {
        await client.query(PG_MIGRATIONS[v]!);
        await client.query('UPDATE gatehouse_schema SET version = $1', [v + 1]);
        await client.query('COMMIT');
      } catch (err) {
        await client.query('ROLLBACK');
        throw err;
      }
    }
    return from;
  } finally {
    await client.query('SELECT pg_advisory_unlock($1)', [MIGRATION_LOCK]);
  }
}
