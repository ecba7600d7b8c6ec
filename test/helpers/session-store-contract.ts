import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync, existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { importJsonl } from '../../src/store/jsonl-import.js';
import type { SessionRecord, SessionStore, StoragePolicy } from '../../src/store/session-db.js';
import { SessionJournal } from '../../src/store/session-journal.js';

// What every SessionStore backend must do, written against the interface only: a second backend (PostgreSQL)
// runs the same tests by calling sessionStoreContract with its own factory.

export type StoreFactory = () => Promise<{ store: SessionStore; cleanup: () => Promise<void> }>;

const T0 = Date.parse('2026-11-30T10:00:00.000Z');
const iso = (ms: number): string => new Date(ms).toISOString();

export function record(id: string, over: Partial<SessionRecord> = {}): SessionRecord {
  return {
    session_id: id, instance: 'gh1', connected_at: iso(T0), login_at: iso(T0 + 1000), ended_at: iso(T0 + 60_000), updated_at: iso(T0 + 60_000),
    client_ip: '10.0.0.5', client_port: 50123, policy: 'default', server_user: 'root', target_name: 'db01', target_address: '10.1.0.1',
    target_port: 22, gateway_user: 'alice', gateway_groups: ['ops'], verdicts: [{ hook: 'authenticate', verdict: 'ACCEPT', at: iso(T0 + 500), ms: 12 }],
    additional_metadata: ['ticket=42'], recordings: [], end_reason: 'logout', end_code: null, bytes_to_target: 10, bytes_to_client: 20,
    identity: { issuer: 'https://idp.example', subject: 'alice', sid: 'sid-1' }, ended_by: null,
    channels: [{ seq: 1, type: 'session', request: 'exec', command: 'uptime', subsystem: null, opened_at: iso(T0 + 2000), closed_at: iso(T0 + 3000),
      bytes_to_target: 0, bytes_to_client: 20, exit_status: 0, exit_signal: null }],
    ...over,
  };
}

async function withStore(factory: StoreFactory, fn: (store: SessionStore) => Promise<void>): Promise<void> {
  const { store, cleanup } = await factory();
  try {
    await fn(store);
  } finally {
    await store.close();
    await cleanup();
  }
}

const ids = (rs: SessionRecord[]): string[] => rs.map((r) => r.session_id);

export function sessionStoreContract(name: string, factory: StoreFactory): void {
  test(`${name}: a record reads back as it was written, channels included`, () => withStore(factory, async (store) => {
    const r = record('a');
    await store.put(r);
    assert.deepEqual(await store.get('a'), r);
    assert.equal(await store.get('nope'), undefined);
    await store.put({ ...r, channels: [], end_reason: 'denied' });
    const again = await store.get('a');
    assert.deepEqual(again?.channels, []);
    assert.equal(again?.end_reason, 'denied');
  }));

  test(`${name}: patch changes only the fields given; putChannel adds or replaces one channel`, () => withStore(factory, async (store) => {
    await store.put(record('a', { ended_at: null, end_reason: null, channels: [] }));
    await store.patch('a', { gateway_groups: ['x', 'y'], end_reason: 'logout', ended_at: iso(T0 + 5000), bytes_to_client: 99 });
    await store.patch('unknown', { end_reason: 'logout' });
    const ch = record('a').channels[0]!;
    await store.putChannel('a', { ...ch, closed_at: null });
    await store.putChannel('a', { ...ch, seq: 2, type: 'direct-tcpip', request: null, command: null, closed_at: null });
    await store.putChannel('a', ch);
    await store.putChannel('unknown', ch);
    const got = await store.get('a');
    assert.deepEqual(got?.gateway_groups, ['x', 'y']);
    assert.equal(got?.ended_at, iso(T0 + 5000));
    assert.equal(got?.bytes_to_client, 99);
    assert.equal(got?.policy, 'default');
    assert.deepEqual(got?.channels.map((c) => [c.seq, c.type, c.closed_at]), [[1, 'session', ch.closed_at], [2, 'direct-tcpip', null]]);
    assert.equal(await store.get('unknown'), undefined);
  }));

  test(`${name}: writes not awaited one by one keep their order: the last state of a channel wins, a put replaces what came before`, () => withStore(factory, async (store) => {
    const ch = record('b').channels[0]!;
    const writes = [
      store.put(record('b', { ended_at: null, end_reason: null, channels: [] })),
      store.putChannel('b', { ...ch, closed_at: null, exit_status: null }),
      store.putChannel('b', { ...ch, closed_at: null, exit_status: 7 }),
      store.putChannel('b', { ...ch, seq: 2, type: 'direct-tcpip' }),
      // The whole record again, with one channel: channel 2 goes, and channel 1 is what this put says ...
      store.put(record('b', { ended_at: null, end_reason: null, channels: [{ ...ch, exit_status: 1 }] })),
      // ... until a later write changes it.
      store.putChannel('b', { ...ch, exit_status: 3 }),
      store.putChannel('unknown', ch),
    ];
    await Promise.all(writes);
    const got = await store.get('b');
    assert.deepEqual(got?.channels.map((c) => [c.seq, c.exit_status]), [[1, 3]]);
    assert.equal(await store.get('unknown'), undefined);
  }));

  test(`${name}: history queries filter by user, target, policy, time and reason, newest first`, () => withStore(factory, async (store) => {
    await Promise.all([
      store.put(record('a', { connected_at: iso(T0) })),
      store.put(record('b', { connected_at: iso(T0 + 10_000), gateway_user: null, server_user: 'bob', target_name: 'web', target_address: '10.1.0.2', policy: 'web' })),
      store.put(record('c', { connected_at: iso(T0 + 20_000), ended_at: null, end_reason: null })),
      store.put(record('d', { connected_at: iso(T0 + 30_000), login_at: null, end_reason: 'denied', end_code: 'DENIED_BY_PLUGIN' })),
    ]);
    assert.deepEqual(ids(await store.query({})), ['d', 'c', 'b', 'a']);
    assert.deepEqual(ids(await store.query({ user: 'alice' })), ['d', 'c', 'a']);
    assert.deepEqual(ids(await store.query({ user: 'bob' })), ['b']);
    assert.deepEqual(ids(await store.query({ target: 'web' })), ['b']);
    assert.deepEqual(ids(await store.query({ target: '10.1.0.2' })), ['b']);
    assert.deepEqual(ids(await store.query({ policy: 'default' })), ['d', 'c', 'a']);
    assert.deepEqual(ids(await store.query({ since: T0 + 10_000, until: T0 + 30_000 })), ['c', 'b']);
    assert.deepEqual(ids(await store.query({ reason: 'denied' })), ['d']);
    assert.deepEqual(ids(await store.query({ reason: 'live' })), ['c']);
    assert.deepEqual(ids(await store.query({ limit: 2 })), ['d', 'c']);
    assert.equal((await store.query({ user: 'bob' }))[0]?.channels.length, 1);
  }));

  test(`${name}: crash recovery closes this instance's live rows at their last write, and only those`, () => withStore(factory, async (store) => {
    const live = { ended_at: null, end_reason: null, updated_at: iso(T0 + 7000) };
    const ch = { ...record('x').channels[0]!, closed_at: null };
    await store.put(record('mine', { ...live, channels: [ch] }));
    await store.put(record('other', { ...live, instance: 'gh2' }));
    await store.put(record('done'));
    assert.equal(await store.recoverCrashed('gh1'), 1);
    const mine = await store.get('mine');
    assert.equal(mine?.end_reason, 'crashed');
    assert.equal(mine?.end_code, 'CRASHED');
    assert.equal(mine?.ended_at, iso(T0 + 7000));
    assert.equal(mine?.channels[0]?.closed_at, iso(T0 + 7000));
    assert.equal((await store.get('other'))?.ended_at, null);
    assert.equal((await store.get('done'))?.end_reason, 'logout');
    assert.equal(await store.recoverCrashed('gh1'), 0);
  }));

  test(`${name}: expiry removes old anonymous rows, then rows past retention, and nothing else`, () => withStore(factory, async (store) => {
    const now = T0 + 10 * 86_400_000;
    const ended = (ms: number): Partial<SessionRecord> => ({ ended_at: iso(ms), updated_at: iso(ms) });
    await store.put(record('anon-old', { login_at: null, ...ended(now - 120_000) }));
    await store.put(record('anon-new', { login_at: null, ...ended(now - 30_000) }));
    await store.put(record('anon-live', { login_at: null, ended_at: null, end_reason: null, connected_at: iso(now - 3_600_000) }));
    await store.put(record('auth-old', ended(now - 120_000)));
    await store.put(record('ancient', ended(now - 8 * 86_400_000)));
    await store.put(record('ancient-live', { ended_at: null, end_reason: null }));
    assert.equal(await store.expire(now, { anonymousExpirySeconds: 60, retentionDays: 0 }), 1);
    assert.deepEqual(ids(await store.query({})).sort(), ['ancient', 'ancient-live', 'anon-live', 'anon-new', 'auth-old']);
    assert.equal(await store.expire(now, { anonymousExpirySeconds: 0, retentionDays: 7 }), 1);
    assert.deepEqual(ids(await store.query({})).sort(), ['ancient-live', 'anon-live', 'anon-new', 'auth-old']);
    assert.equal(await store.expire(now, { anonymousExpirySeconds: 0, retentionDays: 0 }), 0);
  }));

  test(`${name}: bookkeeping values`, () => withStore(factory, async (store) => {
    assert.equal(await store.meta('k'), undefined);
    await store.setMeta('k', 'v1');
    await store.setMeta('k', 'v2');
    assert.equal(await store.meta('k'), 'v2');
  }));

  const policies: [StoragePolicy, string[], string[]][] = [
    // [policy, rows while the accepted session is live, rows after it and a refused one ended]
    ['persistent', ['ok'], ['ok', 'refused']],
    ['authenticated', ['ok'], ['ok']],
    ['ended', [], ['ok', 'refused']],
    ['none', [], []],
  ];
  for (const [storage, live, after] of policies) {
    test(`${name}: storage ${storage} stores what it says`, () => withStore(factory, async (store) => {
      const journal = (id: string): SessionJournal => new SessionJournal({ store, storage, instance: 'gh1', onError: (e) => assert.fail(e) },
        { session_id: id, connected_at: T0, client_ip: '10.0.0.5', client_port: 1 });
      const ok = journal('ok');
      const refused = journal('refused');
      if (storage === 'persistent') assert.deepEqual(ids(await store.query({})).sort(), ['ok', 'refused']);
      ok.update({ policy: 'default', server_user: 'root' });
      ok.verdict('authenticate', 'ACCEPT', 5);
      refused.verdict('authenticate', 'DENY', 5);
      ok.loginAccepted();
      const seq = ok.openChannel('session');
      ok.channel(seq, { request: 'exec', command: 'id' });
      assert.deepEqual(ids(await store.query({})).sort(), storage === 'persistent' ? ['ok', 'refused'] : live);
      await refused.end({ reason: 'denied', code: 'DENIED_BY_PLUGIN', bytes_to_target: 0, bytes_to_client: 0 });
      ok.channel(seq, { exit_status: 3, bytes_to_client: 7 });
      await ok.end({ reason: 'logout', code: null, bytes_to_target: 1, bytes_to_client: 7 });
      assert.deepEqual(ids(await store.query({})).sort(), after);
      if (after.includes('ok')) {
        const got = await store.get('ok');
        assert.deepEqual(got, ok.snapshot());
        assert.equal(got?.channels[0]?.exit_status, 3);
        assert.equal(got?.verdicts[0]?.verdict, 'ACCEPT');
        assert.ok(got?.login_at && got.ended_at);
      }
    }));
  }

  test(`${name}: sessions.jsonl is imported once, known fields only, then renamed`, () => withStore(factory, async (store) => {
    const dir = mkdtempSync(join(tmpdir(), 'gh-jsonl-'));
    try {
      const file = join(dir, 'sessions.jsonl');
      const old = {
        session_id: 'old-1', started_at: iso(T0), ended_at: iso(T0 + 5000), duration_ms: 5000, client_ip: '10.0.0.9', client_port: 4000,
        policy: 'default', server_username: 'root', target_server: 'db01', target_address: '10.1.0.1', target_port: 22, gateway_user: 'carol',
        gateway_groups: ['dba'], verdicts: [{ hook: 'authenticate', verdict: 'ACCEPT', ms: 3 }], additional_metadata: ['m=1'],
        end_reason: 'logout', end_code: null, bytes_to_target: 5, bytes_to_client: 6, recordings: ['/r/a.cast'],
        identity: { issuer: 'https://idp.example', subject: 'carol', sid: 'idp-7' }, ended_by: 'logout_token jti=j-7',
        key_value_pairs: { otp: 'SECRET-KVP' }, password: 'SECRET-PW',
      };
      const denied = { ...old, session_id: 'old-2', end_reason: 'denied', bytes_to_target: 0, bytes_to_client: 0, gateway_user: null };
      writeFileSync(file, `${JSON.stringify(old)}\nnot json\n\n${JSON.stringify(denied)}\n`);
      assert.deepEqual(await importJsonl(store, file, 'gh1'), { imported: 2, skipped: 1 });
      assert.ok(!existsSync(file) && existsSync(`${file}.imported`));
      const got = await store.get('old-1');
      assert.equal(got?.gateway_user, 'carol');
      assert.equal(got?.server_user, 'root');
      assert.equal(got?.target_name, 'db01');
      assert.equal(got?.login_at, iso(T0));
      assert.deepEqual(got?.recordings, ['/r/a.cast']);
      assert.deepEqual(got?.identity, { issuer: 'https://idp.example', subject: 'carol', sid: 'idp-7' });
      assert.equal(got?.ended_by, 'logout_token jti=j-7');
      assert.deepEqual(got?.verdicts, [{ hook: 'authenticate', verdict: 'ACCEPT', at: iso(T0), ms: 3 }]);
      assert.ok(!JSON.stringify(got).includes('SECRET'));
      assert.equal((await store.get('old-2'))?.login_at, null);
      // Put back (as if the rename had failed): not imported twice, only renamed.
      writeFileSync(file, `${JSON.stringify({ ...old, session_id: 'old-3' })}\n`);
      assert.equal(await importJsonl(store, file, 'gh1'), null);
      assert.equal(await store.get('old-3'), undefined);
      assert.equal(await importJsonl(store, file, 'gh1'), null);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  }));

  test(`${name}: a failing write is reported and the session goes on`, () => withStore(factory, async (store) => {
    const errors: Error[] = [];
    const j = new SessionJournal({ store, storage: 'persistent', instance: 'gh1', onError: (e) => errors.push(e) },
      { session_id: 'f', connected_at: T0, client_ip: '10.0.0.5', client_port: 1 });
    await store.close();
    j.update({ policy: 'p' });
    await j.end({ reason: 'logout', code: null, bytes_to_target: 0, bytes_to_client: 0 });
    assert.ok(errors.length > 0);
  }));
}
