import type { Database } from 'better-sqlite3';
import { BastionError } from '../core/errors.js';

// The SQLite schema as numbered migrations. PRAGMA user_version holds the version a database is at; start-up
// applies the missing steps in one transaction each, and refuses a database a newer Gatehouse has migrated
// (its rows could mean something this code does not know). Never edit a released step: add one.

export const MIGRATIONS: readonly string[] = [
  // 1: one row per session; the short lists (verdicts, metadata, groups, recordings) are JSON text.
  `CREATE TABLE sessions (
     session_id TEXT PRIMARY KEY,
     connected_at INTEGER NOT NULL,
     login_at INTEGER,
     ended_at INTEGER,
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
     bytes_to_target INTEGER NOT NULL DEFAULT 0,
     bytes_to_client INTEGER NOT NULL DEFAULT 0
   );
   CREATE INDEX sessions_connected ON sessions (connected_at);`,
  // 2: crash recovery (the last write per row, and which host wrote it), channels, and the indexes history
  // queries use.
  `ALTER TABLE sessions ADD COLUMN instance TEXT NOT NULL DEFAULT '';
   ALTER TABLE sessions ADD COLUMN updated_at INTEGER NOT NULL DEFAULT 0;
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
     opened_at INTEGER NOT NULL,
     closed_at INTEGER,
     bytes_to_target INTEGER NOT NULL DEFAULT 0,
     bytes_to_client INTEGER NOT NULL DEFAULT 0,
     exit_status INTEGER,
     exit_signal TEXT,
     PRIMARY KEY (session_id, seq)
   ) WITHOUT ROWID;
   CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);`,
  // 3: the identity-provider session a plugin bound the session to (JSON: issuer, subject, sid), and what
  // ended it when that was more than a reason (the logout token's jti).
  `ALTER TABLE sessions ADD COLUMN identity TEXT;
   ALTER TABLE sessions ADD COLUMN ended_by TEXT;`,
];

export const SCHEMA_VERSION = MIGRATIONS.length;

/**
 * Brings `db` to `target` (default: the newest this code knows). Returns the version it was at. Throws
 * STORE_SCHEMA_NEWER for a database a newer Gatehouse wrote.
 */
export function migrate(db: Database, file: string, target = SCHEMA_VERSION): number {
  const from = db.pragma('user_version', { simple: true }) as number;
  if (from > SCHEMA_VERSION) {
    throw new BastionError('STORE_SCHEMA_NEWER',
      `${file} has schema version ${from}, newer than the ${SCHEMA_VERSION} this Gatehouse knows: it was written by a newer Gatehouse; run that one, or move the file away to start a new database`);
  }
  for (let v = from; v < target; v++) {
    db.transaction(() => {
      db.exec(MIGRATIONS[v]!);
      db.pragma(`user_version = ${v + 1}`);
    })();
  }
  return from;
}
