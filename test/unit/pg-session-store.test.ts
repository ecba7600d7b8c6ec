import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import pg from 'pg';
import { BastionError } from '../../src/core/errors.js';
import { migratePg, PG_MIGRATIONS } from '../../src/store/pg-schema.js';
import { PgSessionStore, redactUrl } from '../../src/store/pg-store.js';
import { SCHEMA_VERSION } from '../../src/store/sqlite-schema.js';
import { record, sessionStoreContract } from '../helpers/session-store-contract.js';
import { startPostgres, type Postgres } from '../helpers/postgres.js';

// The PostgreSQL backend against a real PostgreSQL started from a temp dir: the same contract the SQLite
// backend passes, then what is PostgreSQL's own (versioned migrations under a lock, order of queued writes).

describe('postgres session store', () => {
  let server: Postgres;
  let n = 0;
  before(async () => { server = await startPostgres(); });
  after(async () => { await server?.stop(); });

  sessionStoreContract('postgres', async () => {
    const name = `contract_${++n}`;
    const url = await server.createDatabase(name);
    return { store: await PgSessionStore.open(url), cleanup: () => server.dropDatabase(name) };
  });

  test('postgres: the same number of migration steps as SQLite; a database at step 1 is migrated and keeps its rows', async () => {
    assert.equal(PG_MIGRATIONS.length, SCHEMA_VERSION);
    const url = await server.createDatabase('at_step_1');
    try {
      const pool = new pg.Pool({ connectionString: url, max: 1 });
      const c = await pool.connect();
      await migratePg(c, 'test', 1);
      await c.query(`INSERT INTO sessions (session_id, connected_at, ended_at, client_ip, client_port, end_reason) VALUES ('old', 1000, 5000, '10.0.0.1', 1, 'logout')`);
      c.release();
      await pool.end();
      const store = await PgSessionStore.open(url);
      const old = await store.get('old');
      assert.equal(old?.end_reason, 'logout');
      assert.equal(old?.updated_at, new Date(5000).toISOString());
      assert.deepEqual(old?.channels, []);
      await store.close();
    } finally {
      await server.dropDatabase('at_step_1');
    }
  });

  test('postgres: two hosts opening a new database at once migrate it once', async () => {
    const url = await server.createDatabase('racing');
    try {
      const [a, b] = await Promise.all([PgSessionStore.open(url), PgSessionStore.open(url)]);
      await a.put(record('x'));
      assert.equal((await b.get('x'))?.session_id, 'x');
      const c = new pg.Client({ connectionString: url });
      await c.connect();
      assert.deepEqual((await c.query('SELECT version FROM gatehouse_schema')).rows, [{ version: SCHEMA_VERSION }]);
      await c.end();
      await Promise.all([a.close(), b.close()]);
    } finally {
      await server.dropDatabase('racing');
    }
  });

  test('postgres: a database from a newer Gatehouse is refused with a coded error', async () => {
    const url = await server.createDatabase('newer');
    try {
      const c = new pg.Client({ connectionString: url });
      await c.connect();
      await c.query('CREATE TABLE gatehouse_schema (version INTEGER NOT NULL); INSERT INTO gatehouse_schema VALUES (99)');
      await c.end();
      await assert.rejects(PgSessionStore.open(url), (e: BastionError) => e.code === 'STORE_SCHEMA_NEWER' && /version 99/.test(e.message));
    } finally {
      await server.dropDatabase('newer');
    }
  });

  test('postgres: an unreachable database is a coded error that never shows the password', async () => {
    await assert.rejects(PgSessionStore.open(`postgres://gh:Secret-Pw-1@127.0.0.1:${server.port + 1}/x`),
      (e: BastionError) => e.code === 'STORE_UNAVAILABLE' && !e.message.includes('Secret-Pw-1') && e.message.includes('***'));
    assert.equal(redactUrl('postgres://u:pw@h/db'), 'postgres://u:***@h/db');
  });

  test('postgres: writes queued together run in order, a put then its patches, without awaiting each', async () => {
    const url = await server.createDatabase('ordered');
    try {
      const store = await PgSessionStore.open(url);
      const writes = [store.put(record('o', { ended_at: null, end_reason: null, bytes_to_client: 0 }))];
      for (let i = 1; i <= 50; i++) writes.push(store.patch('o', { bytes_to_client: i }));
      await Promise.all(writes);
      assert.equal((await store.get('o'))?.bytes_to_client, 50);
      await store.close();
    } finally {
      await server.dropDatabase('ordered');
    }
  });
});
