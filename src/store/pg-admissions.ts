import pg from 'pg';
import { openSharedTable } from './pg-shared-table.js';

// The sessions admitted under the session limits, shared by every Gatehouse host of one PostgreSQL, so that
// max_sessions_per_user and max_sessions hold across hosts. Admission is a transaction under one advisory
// lock: read who is admitted, decide (session/session-limits.ts decides, this file only keeps the ledger),
// write the newcomer and strike the sessions to be ended, so that two hosts admitting the same user at the
// same moment take turns and cannot both slip under the limit. The ledger is coordination state, not
// history: a row lives as long as its session, and a host's rows go when it starts again after a crash.

export interface AdmissionRow {
  readonly session_id: string;
  readonly instance: string;
  readonly user_key: string;
  readonly user_label: string;
  readonly policy: string;
  readonly started_at: number;
}

export interface LedgerDecision {
  readonly ok: boolean;
  /** Sessions to end to make room (struck from the ledger with the newcomer's admission). */
  readonly end: readonly { readonly id: string }[];
}

const ADMISSION_LOCK = 0x6761_7466;

export class PgAdmissions {
  private constructor(private readonly pool: pg.Pool, readonly instance: string) {}

  static async open(url: string, instance: string): Promise<PgAdmissions> {
    const pool = await openSharedTable(url, {
      lock: ADMISSION_LOCK, purpose: 'the shared session limits',
      ddl: `CREATE TABLE IF NOT EXISTS gatehouse_admissions (
        session_id TEXT PRIMARY KEY, instance TEXT NOT NULL, user_key TEXT NOT NULL, user_label TEXT NOT NULL,
        policy TEXT NOT NULL, started_at BIGINT NOT NULL)`,
    });
    return new PgAdmissions(pool, instance);
  }

  /** Runs `decide` on every host's admitted sessions; if it admits, the newcomer is recorded and `end` struck. */
  async admit<D extends LedgerDecision>(newcomer: Omit<AdmissionRow, 'instance'>, decide: (admitted: AdmissionRow[]) => D): Promise<D> {
    const c = await this.pool.connect();
    try {
      await c.query('BEGIN');
      await c.query('SELECT pg_advisory_xact_lock($1)', [ADMISSION_LOCK]);
      const { rows } = await c.query<AdmissionRow>('SELECT * FROM gatehouse_admissions ORDER BY started_at, session_id');
      const d = decide(rows);
      if (d.ok) {
        if (d.end.length > 0) await c.query('DELETE FROM gatehouse_admissions WHERE session_id = ANY($1)', [d.end.map((e) => e.id)]);
        await c.query(`INSERT INTO gatehouse_admissions (session_id, instance, user_key, user_label, policy, started_at)
          VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT (session_id) DO NOTHING`,
        [newcomer.session_id, this.instance, newcomer.user_key, newcomer.user_label, newcomer.policy, newcomer.started_at]);
      }
      await c.query('COMMIT');
      return d;
    } catch (err) {
      await c.query('ROLLBACK').catch(() => undefined);
      throw err;
    } finally {
      c.release();
    }
  }

  /** The session ended: its place is free on every host. */
  async release(sessionId: string): Promise<void> {
    await this.pool.query('DELETE FROM gatehouse_admissions WHERE session_id = $1', [sessionId]);
  }

  /** At start: the places this host's previous run left (it crashed; those sessions are gone). */
  async forgetOwn(): Promise<number> {
    return (await this.pool.query('DELETE FROM gatehouse_admissions WHERE instance = $1', [this.instance])).rowCount ?? 0;
  }

  async close(): Promise<void> {
    await this.pool.end();
  }
}
