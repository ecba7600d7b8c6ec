import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { userKey, type Admission, type LimitRules } from '../../src/session/session-limits.js';
import { decideShared } from '../../src/session/shared-limits.js';
import { PgAdmissions } from '../../src/store/pg-admissions.js';
import { startPostgres, type Postgres } from '../helpers/postgres.js';

// The session limits across two Gatehouse hosts sharing a real PostgreSQL: one host's sessions count on the
// other, end_oldest names a session on the other host, simultaneous logins cannot both slip under the cap,
// and an ended or crashed host's places come free.

const alice = userKey('alice', 'root', '10.0.0.1');
const bob = userKey('bob', 'root', '10.0.0.2');
const rules = (over: Partial<LimitRules> = {}): LimitRules => ({ maxSessions: 0, maxSessionsPerUser: 2, onLimit: 'refuse', ...over });

describe('per-user limits across hosts', () => {
  let server: Postgres;
  let hostA: PgAdmissions;
  let hostB: PgAdmissions;
  let n = 0;
  const adm = (user = alice, policy = 'p'): Admission => ({ id: `s${++n}`, user, policy, startedAt: 1_000 + n });

  before(async () => {
    server = await startPostgres();
    const url = await server.createDatabase('limits');
    [hostA, hostB] = await Promise.all([PgAdmissions.open(url, 'gh-a'), PgAdmissions.open(url, 'gh-b')]);
  });
  after(async () => {
    await hostA?.close();
    await hostB?.close();
    await server?.stop();
  });

  test('refuse: a session on one host counts on the other', async () => {
    const a1 = adm();
    assert.equal((await decideShared(hostA, a1, rules(), undefined)).ok, true);
    assert.equal((await decideShared(hostB, adm(), rules(), undefined)).ok, true);
    const third = await decideShared(hostA, adm(), rules(), undefined);
    assert.equal(third.ok, false);
    if (!third.ok) assert.match(third.error.userMessage, /alice already has 2 sessions open/);
    assert.equal((await decideShared(hostB, adm(bob), rules(), undefined)).ok, true, 'another user is not held back');
    // A session ends on host A: its place is free on host B.
    await hostA.release(a1.id);
    assert.equal((await decideShared(hostB, adm(), rules(), undefined)).ok, true);
  });

  test('end_oldest: the oldest session may be on the other host, and comes back with its host', async () => {
    const d = await decideShared(hostA, adm(), rules({ onLimit: 'end_oldest' }), undefined);
    assert.ok(d.ok);
    assert.equal(d.end?.length, 1);
    assert.equal(d.end![0]!.instance, 'gh-b');
    assert.equal(d.end![0]!.user.key, alice.key);
  });

  test('logins at the same moment on both hosts: never more than the cap', async () => {
    const carol = userKey('carol', 'root', '10.0.0.3');
    const results = await Promise.all(Array.from({ length: 10 }, (_, i) => decideShared(i % 2 ? hostA : hostB, adm(carol), rules({ maxSessionsPerUser: 3 }), undefined)));
    assert.equal(results.filter((r) => r.ok).length, 3);
  });

  test('a host starting again after a crash frees the places it held, and only those', async () => {
    const dave = userKey('dave', 'root', '10.0.0.4');
    assert.ok((await decideShared(hostA, adm(dave), rules({ maxSessionsPerUser: 1 }), undefined)).ok);
    assert.ok((await decideShared(hostB, adm(userKey('erin', 'root', '10.0.0.5')), rules({ maxSessionsPerUser: 1 }), undefined)).ok);
    assert.equal((await decideShared(hostB, adm(dave), rules({ maxSessionsPerUser: 1 }), undefined)).ok, false);
    assert.ok((await hostA.forgetOwn()) >= 1);
    assert.equal((await decideShared(hostB, adm(dave), rules({ maxSessionsPerUser: 1 }), undefined)).ok, true);
    assert.equal((await decideShared(hostA, adm(userKey('erin', 'root', '10.0.0.5')), rules({ maxSessionsPerUser: 1 }), undefined)).ok, false, 'host B\'s places stay');
  });
});
