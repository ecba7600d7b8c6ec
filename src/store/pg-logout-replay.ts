import pg from 'pg';
import { BastionError } from '../core/errors.js';
import { openSharedTable } from './pg-shared-table.js';
import { redactUrl } from './pg-store.js';

// The logout token ids (jti) every Gatehouse host sharing one PostgreSQL has acted on, so that a token replayed
// to another host (a load balancer in front of the back-channel logout listeners picks any) is refused there
// as it is on the host that took it first. One INSERT ... ON CONFLICT DO NOTHING decides, atomically, which
// of two hosts receiving the same token at once acts on it. A row is kept only while a token carrying its jti
// could still pass the token age check (identity_logout.max_token_age plus the clock skew allowed); older
// rows are deleted as new ones come. Like gatehouse_admissions this is coordination state, not history.

const TABLE_LOCK = 0x6761_746a;

export class PgLogoutReplay {
  private constructor(private readonly pool: pg.Pool, private readonly where: string) {}

  static async open(url: string): Promise<PgLogoutReplay> {
    const pool = await openSharedTable(url, {
      lock: TABLE_LOCK, purpose: 'the shared logout token record',
      ddl: `CREATE TABLE IF NOT EXISTS gatehouse_logout_tokens (
        issuer TEXT NOT NULL, jti TEXT NOT NULL, expires_at BIGINT NOT NULL, PRIMARY KEY (issuer, jti))`,
    });
    return new PgLogoutReplay(pool, redactUrl(url));
  }

  /** Records the jti; false when any host recorded it before. */
  async remember(issuer: string, jti: string, expiresAt: number, now = Date.now()): Promise<boolean> {
    try {
      await this.pool.query('DELETE FROM gatehouse_logout_tokens WHERE expires_at < $1', [now]);
      const r = await this.pool.query('INSERT INTO gatehouse_logout_tokens (issuer, jti, expires_at) VALUES ($1, $2, $3) ON CONFLICT DO NOTHING',
        [issuer, jti, expiresAt]);
      return r.rowCount === 1;
    } catch (err) {
      throw new BastionError('STORE_UNAVAILABLE', `cannot record logout token ${jti} on ${this.where}: ${(err as Error).message}`, { cause: err });
    }
  }

  async close(): Promise<void> {
    await this.pool.end().catch(() => undefined);
  }
}
