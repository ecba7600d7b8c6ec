import assert from 'node:assert/strict';
import { test } from 'node:test';
import { decide, userKey, type Admission, type LimitRules } from '../../src/session/session-limits.js';

// The session limits as pure decisions: who counts as the same user, refuse versus end_oldest, the overall cap.

const alice = userKey('alice', 'root', '10.0.0.1');
const rootA = userKey(undefined, 'root', '10.0.0.1');
const rootB = userKey(undefined, 'root', '10.0.0.2');
let n = 0;
const adm = (user = alice, policy = 'p', startedAt = ++n): Admission => ({ id: `s${startedAt}`, user, policy, startedAt });
const rules = (over: Partial<LimitRules> = {}): LimitRules => ({ maxSessions: 0, maxSessionsPerUser: 2, onLimit: 'refuse', ...over });

test('the user is the gateway user, else the server user together with the client address', () => {
  assert.equal(alice.key, userKey('alice', 'admin', '10.9.9.9').key);
  assert.notEqual(rootA.key, rootB.key);
  assert.equal(rootA.label, 'root from 10.0.0.1');
});

test('refuse: under the cap is admitted, at the cap the newcomer is refused and told why', () => {
  const open = [adm(), adm(rootA)];
  assert.deepEqual(decide(adm(), open, rules(), undefined), { ok: true, end: [] });
  const d = decide(adm(), [...open, adm()], rules(), undefined);
  assert.equal(d.ok, false);
  if (d.ok) return;
  assert.equal(d.rule, 'sessions.max_sessions_per_user');
  assert.equal(d.error.code, 'SESSION_LIMIT');
  assert.match(d.error.userMessage, /alice already has 2 sessions open, and at most 2 sessions may be open at once/);
});

test('end_oldest: the oldest of that user goes, not anyone else\'s', () => {
  const oldest = adm(alice, 'p', 1);
  const other = adm(rootA, 'p', 0);
  const d = decide(adm(alice, 'p', 10), [adm(alice, 'p', 5), other, oldest], rules({ onLimit: 'end_oldest' }), undefined);
  assert.ok(d.ok);
  assert.deepEqual(d.end.map((a) => a.id), [oldest.id]);
  assert.equal(d.rule, 'sessions.max_sessions_per_user');
});

test('a policy cap counts that policy\'s sessions only and applies before the global one', () => {
  const open = [adm(alice, 'db'), adm(alice, 'web')];
  const d = decide(adm(alice, 'db'), open, rules({ maxSessionsPerUser: 5 }), 1);
  assert.equal(d.ok, false);
  if (!d.ok) assert.equal(d.rule, 'policies.db.max_sessions_per_user');
  assert.ok(decide(adm(alice, 'ops'), open, rules({ maxSessionsPerUser: 5 }), 1).ok);
});

test('the overall max_sessions always refuses, whatever on_limit says', () => {
  const d = decide(adm(rootB), [adm(), adm(rootA)], rules({ maxSessions: 2, onLimit: 'end_oldest' }), undefined);
  assert.equal(d.ok, false);
  if (!d.ok) {
    assert.equal(d.rule, 'sessions.max_sessions');
    assert.match(d.error.userMessage, /as many sessions open as it allows/);
  }
});

test('no limits configured: everything is admitted', () => {
  const open = Array.from({ length: 50 }, () => adm());
  assert.deepEqual(decide(adm(), open, rules({ maxSessionsPerUser: 0 }), undefined), { ok: true, end: [] });
});
