import assert from 'node:assert/strict';
import Database from 'better-sqlite3';
import { mkdtempSync, readdirSync, readFileSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { BastionError } from '../../src/core/errors.js';
import { SessionJournal } from '../../src/store/session-journal.js';
import { migrate, SCHEMA_VERSION } from '../../src/store/sqlite-schema.js';
import { SqliteSessionStore } from '../../src/store/sqlite-store.js';
import { record, sessionStoreContract } from '../helpers/session-store-contract.js';

// The SQLite backend: the shared contract, plus what is SQLite's own (WAL, file mode, schema versions).

function tempDir(): string {
  return mkdtempSync(join(tmpdir(), 'gh-store-'));
}

sessionStoreContract('sqlite', async () => {
  const dir = tempDir();
  return { store: SqliteSessionStore.open(join(dir, 'sessions.db')), cleanup: async () => rmSync(dir, { recursive: true, force: true }) };
});

test('sqlite: a new database is private, in WAL mode, at the newest schema', async () => {
  const dir = tempDir();
  try {
    const file = join(dir, 'state', 'sessions.db');
    const store = SqliteSessionStore.open(file);
    await store.put(record('a'));
    assert.equal(statSync(file).mode & 0o777, 0o600);
    assert.equal(statSync(join(dir, 'state')).mode & 0o777, 0o700);
    assert.equal(statSync(`${file}-wal`).mode & 0o777, 0o600);
    await store.close();
    const db = new Database(file, { readonly: true });
    assert.equal(db.pragma('journal_mode', { simple: true }), 'wal');
    assert.equal(db.pragma('user_version', { simple: true }), SCHEMA_VERSION);
    db.close();
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('sqlite: a database at schema 1 is migrated at start and keeps its rows', async () => {
  const dir = tempDir();
  try {
    const file = join(dir, 'sessions.db');
    const old = new Database(file);
    migrate(old, file, 1);
    old.prepare(`INSERT INTO sessions (session_id, connected_at, ended_at, client_ip, client_port, gateway_user, end_reason, verdicts)
      VALUES ('v1-row', 1000, 5000, '10.0.0.1', 22, 'alice', 'logout', '[{"hook":"authenticate","verdict":"ACCEPT","at":"1970-01-01T00:00:01.000Z","ms":1}]')`).run();
    assert.equal(old.pragma('user_version', { simple: true }), 1);
    old.close();
    const store = SqliteSessionStore.open(file);
    const got = await store.get('v1-row');
    assert.equal(got?.gateway_user, 'alice');
    assert.equal(got?.updated_at, new Date(5000).toISOString());
    assert.equal(got?.verdicts[0]?.verdict, 'ACCEPT');
    assert.deepEqual(got?.channels, []);
    await store.putChannel('v1-row', record('x').channels[0]!);
    assert.equal((await store.get('v1-row'))?.channels.length, 1);
    await store.close();
    const db = new Database(file, { readonly: true });
    assert.equal(db.pragma('user_version', { simple: true }), SCHEMA_VERSION);
    db.close();
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('sqlite: a database from a newer Gatehouse is refused with a coded error, and left as it was', () => {
  const dir = tempDir();
  try {
    const file = join(dir, 'sessions.db');
    const db = new Database(file);
    db.pragma(`user_version = ${SCHEMA_VERSION + 1}`);
    db.close();
    assert.throws(() => SqliteSessionStore.open(file), (err: unknown) => err instanceof BastionError && err.code === 'STORE_SCHEMA_NEWER'
      && err.message.includes(`schema version ${SCHEMA_VERSION + 1}`));
    const again = new Database(file, { readonly: true });
    assert.equal(again.pragma('user_version', { simple: true }), SCHEMA_VERSION + 1);
    again.close();
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('sqlite: the command line opening a missing database gets a coded error, and no file is created', () => {
  const dir = tempDir();
  try {
    const file = join(dir, 'sessions.db');
    assert.throws(() => SqliteSessionStore.open(file, { mustExist: true }), (err: unknown) => err instanceof BastionError && err.code === 'STORE_UNAVAILABLE');
    assert.deepEqual(readdirSync(dir), []);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('sqlite: writes made in one turn of the event loop are committed together, and in order', async () => {
  const dir = tempDir();
  try {
    const store = SqliteSessionStore.open(join(dir, 'sessions.db'));
    const writes: Promise<void>[] = [];
    for (let i = 0; i < 200; i++) {
      writes.push(store.put(record(`s${i}`, { ended_at: null, end_reason: null })));
      writes.push(store.patch(`s${i}`, { end_reason: 'logout', ended_at: new Date().toISOString() }));
    }
    // A bad write fails alone: the others in its transaction are kept.
    writes.push(store.put({ ...record('bad'), client_ip: null as unknown as string }).catch(() => undefined));
    await Promise.all(writes);
    const rows = await store.query({});
    assert.equal(rows.length, 200);
    assert.ok(rows.every((r) => r.end_reason === 'logout'));
    await store.close();
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('sqlite: no secret a session saw reaches the database files', async () => {
  const dir = tempDir();
  try {
    const file = join(dir, 'sessions.db');
    const store = SqliteSessionStore.open(file);
    // What a session hands the journal: the parsed user names and the plugin's public results only.
    const j = new SessionJournal({ store, storage: 'persistent', instance: 'gh1', onError: (e) => assert.fail(e) },
      { session_id: 'scan', connected_at: Date.now(), client_ip: '127.0.0.1', client_port: 5000 });
    j.update({ server_user: 'root', gateway_user: 'alice', policy: 'otp' });
    j.verdict('authenticate', 'ACCEPT', 3);
    j.loginAccepted();
    await j.end({ reason: 'logout', code: null, bytes_to_target: 1, bytes_to_client: 1 });
    await store.close();
    const secrets = ['otp=123456', '123456', 'hunter2'];
    for (const f of readdirSync(dir)) {
      const bytes = readFileSync(join(dir, f)).toString('latin1');
      for (const s of secrets) assert.ok(!bytes.includes(s), `${f} holds ${s}`);
      assert.ok(f !== 'sessions.db' || bytes.includes('alice'), 'the scan reads the real rows');
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
