import assert from 'node:assert/strict';
import { dirname } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { runSsh } from '../helpers/openssh.js';
import { startScenario, type Scenario } from '../helpers/scenario.js';
import { assertNoSecrets, dbFile, rows } from '../helpers/session-db.js';

// Issue 15, with the real OpenSSH client: secrets in key=value pairs leave no trace in the log or the
// connection record, even when the user name is malformed; and before authentication an unresolvable target
// name reads exactly like a forbidden one (no DNS oracle).

const MARK = 'Zq9SECRET';

describe('no leaks from user names, no DNS oracle', () => {
  let sc: Scenario;
  let sessions = 0;
  const ssh = (login: string, answers: string[] = ['good']) => {
    sessions++;
    return runSsh({ port: sc.gh.port, knownHosts: sc.gh.knownHosts, login, answers, command: 'id -un' });
  };

  before(async () => {
    sc = await startScenario([{ alias: 'ok', plugin: {} }, { alias: 'cidr', plugin: {}, more: { targets: { allow: [{ hosts: ['10.255.0.0/16'], ports: [22] }] } } }], {
      extra: { timeouts: { target_connect: 3 } },
    });
  });
  after(async () => {
    await sc?.stop();
  });

  test('malformed user names carrying secrets are refused without echoing, logging or recording them', async () => {
    const user = sc.sshd.user;
    const malformed = [
      `reluser@otp=${MARK}1@ok`,
      `@otp=${MARK}2@ok`,
      `${user}@ok:otp=${MARK}3`,
      `${user}%otp=${MARK}4`,
      `${user}@otp=${MARK}5@ok`,
    ];
    for (const login of malformed) {
      const r = await ssh(login);
      assert.equal(r.code, 255, login);
      assert.match(r.stderr, /key=value pairs go first/, login);
      assert.doesNotMatch(r.stderr, new RegExp(MARK), login);
    }
    // A well-formed name with a pre-answered pair logs in; its value is for the plugin only.
    const good = await ssh(`otp=${MARK}6@${user}@ok`);
    assert.equal(good.code, 0, good.stderr);
    assert.equal(good.stdout.trim(), user);

    const closed = await sc.gh.closedSessions(sessions);
    assert.deepEqual(closed.slice(0, malformed.length).map((l) => l.code), malformed.map(() => 'USERNAME_INVALID'));
    const logText = sc.gh.logs.map((l) => JSON.stringify(l)).join('\n');
    assert.doesNotMatch(logText, new RegExp(MARK));
    // Every attempt has its ended row in the connection database (storage: persistent keeps refused ones too).
    const deadline = Date.now() + 20_000;
    let ended = await rows(sc.gh);
    while (ended.filter((r) => r.ended_at != null).length < sessions && Date.now() < deadline) {
      await new Promise((res) => setTimeout(res, 50));
      ended = await rows(sc.gh);
    }
    ended = ended.filter((r) => r.ended_at != null);
    assert.equal(ended.length, sessions, 'one ended row per attempt');
    assert.equal(ended.filter((r) => r.end_code === 'USERNAME_INVALID').length, malformed.length);
    assert.doesNotMatch(JSON.stringify(ended), new RegExp(MARK));
    assert.doesNotMatch(JSON.stringify(ended), /reluser/);
    // The database files themselves (pages, WAL) hold neither, not only the rows as read back.
    assertNoSecrets(dirname(dbFile(sc.gh)), [MARK, 'reluser']);
    // The plugin did get the well-formed pair (so the scan above could have found it).
    assert.ok(sc.gh.calls('authenticate').some((c) => JSON.stringify(c.args).includes(`${MARK}6`)));
  });

  test('before authentication, an unresolvable name and a forbidden one get the same refusal', async () => {
    const user = sc.sshd.user;
    const forbidden = await ssh(`${user}@localhost`); // resolves, to an address no rule admits
    const unknown = await ssh(`${user}@nosuch.invalid`); // never resolves (RFC 6761)
    assert.equal(forbidden.code, 255);
    assert.equal(unknown.code, 255);
    const refusal = (stderr: string, name: string): string => stderr.split('\n').filter((l) => l.includes(name)).join('\n').replace(name, 'NAME');
    assert.match(forbidden.stderr, /Connections to localhost are not allowed through Gatehouse\./);
    assert.equal(refusal(unknown.stderr, 'nosuch.invalid'), refusal(forbidden.stderr, 'localhost'));
    assert.deepEqual(unknown.prompts, forbidden.prompts);
    const closed = await sc.gh.closedSessions(sessions);
    assert.deepEqual(closed.slice(-2).map((l) => l.code), ['TARGET_NOT_ALLOWED', 'TARGET_NOT_ALLOWED']);
    // The administrator still learns which it was.
    assert.ok(sc.gh.logs.some((l) => l.event === 'auth.deny' && /nosuch\.invalid did not resolve/.test(String(l['detail']))));
  });
});
