import pg from 'pg';
import { BastionError } from '../core/errors.js';
import { redactUrl } from './pg-store.js';

// A small table of coordination state shared by the Gatehouse hosts of one PostgreSQL (the session-limit
// ledger, the logout tokens acted on), opened on a pool of its own. CREATE TABLE IF NOT EXISTS is not safe
// against itself: two hosts (or workers) starting at once can both find the table missing and one fails on
// the catalog's unique index, so they take turns under an advisory lock.

const INT8_OID = 20;

export interface SharedTable {
  /** The table's key in the advisory lock space; its transactions take the same lock. */
  readonly lock: number;
  readonly ddl: string;
  /** For the error: what the table is for ("the shared session limits"). */
  readonly purpose: string;
}

/** A pool on `url` (BIGINT read as a number) with the table created; a coded STORE_UNAVAILABLE otherwise. */
export async function openSharedTable(url: string, table: SharedTable): Promise<pg.Pool> {
  const pool = new pg.Pool({
    connectionString: url, max: 2, connectionTimeoutMillis: 10_000, statement_timeout: 10_000,
    types: { getTypeParser: ((oid: number, format?: 'text' | 'binary') => (oid === INT8_OID ? Number : pg.types.getTypeParser(oid, format))) as typeof pg.types.getTypeParser },
  });
  pool.on('error', () => undefined);
  try {
    const c = await pool.connect();
    try {
      await c.query('BEGIN');
      await c.query('SELECT pg_advisory_xact_lock($1)', [table.lock]);
      await c.query(table.ddl);
      await c.query('COMMIT');
    } catch (err) {
      await c.query('ROLLBACK').catch(() => undefined);
      throw err;
    } finally {
      c.release();
    }
  } catch (err) {
    await pool.end().catch(() => undefined);
    throw new BastionError('STORE_UNAVAILABLE', `cannot use ${table.purpose} on ${redactUrl(url)}: ${(err as Error).message}`, { cause: err });
  }
  return pool;
}
