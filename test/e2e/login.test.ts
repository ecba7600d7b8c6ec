import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import ssh2 from 'ssh2';
import type { Gatehouse } from '../helpers/gatehouse.js';
import { runSsh } from '../helpers/openssh.js';
import { assertNoSecrets, rows } from '../helpers/session-db.js';
import { FIXTURE_AA_PLUGINS, type PolicySpec, type Scenario, startScenario } from '../helpers/scenario.js';
import type { Sshd } from '../helpers/sshd.js';
import { parseJsonl } from '../helpers/jsonl.js';

// Logins through Gatehouse with the real OpenSSH client to a real OpenSSH sshd: the AA plugin's questions,
// verdicts, cookies and session_ended as the user and the plugin see them.

const SECRET = 'S3cret-Token-8842';
const WRONG = 'Wrong-Answer-1177';

const SPECS: PolicySpec[] = [
  { alias: 'basic', plugin: { expect: { token: SECRET }, additional_metadata: '{"ticket":"INC-42"}' } },
  { alias: 'authz-deny', plugin: { expect: { token: SECRET }, authorize: { verdict: 'DENY', reason: 'Change window is closed for db01.' } } },
  { alias: 'authz-ask', plugin: { expect: { token: SECRET }, authorize: { needinfo: ['ticket', 'Ticket number: '], expect: 'INC-7' } } },
  { alias: 'gw-ok', plugin: { expect: { token: SECRET }, gateway: { user: 'alice', groups: ['ops'] } }, more: { usermapping: [{ server_user: '*', gateway_groups: ['ops'] }] } },
  { alias: 'gw-nomap', plugin: { expect: { token: SECRET }, gateway: { user: 'mallory', groups: ['guests'] } } },
  { alias: 'none-key', plugin: { authenticate_result: null } },
  { alias: 'two-questions', plugin: { questions: [['pin', 'PIN: ', true], ['otp', 'OTP: ', true]], expect: { pin: 'Pin-55719', otp: '' } } },
];

for (const plugin of FIXTURE_AA_PLUGINS) describe(`login through Gatehouse (OpenSSH client -> Gatehouse -> OpenSSH sshd) [${plugin}]`, () => {
  let sshd: Sshd;
  let gh: Gatehouse;
  let sessions = 0;
  const ssh = (login: string, answers: string[] = [], command = 'id -un', options: string[] = []) => {
    sessions++;
    return runSsh({ port: gh.port, knownHosts: gh.knownHosts, login, answers, command, options });
  };
  const ended = (sid: string) => gh.calls('session_ended').filter((c) => c.session_id === sid);
  const lastSid = () => gh.calls('authenticate').at(-1)!.session_id;

  let scenario: Scenario | undefined;
  before(async () => {
    scenario = await startScenario(SPECS, { plugin: plugin, extra: { timeouts: { login_grace: 5 } } });
    ({ sshd, gh } = scenario);
  });
  after(async () => {
    await scenario?.stop();
  });

  test('NEEDINFO with a wrong answer, then the right one: prompts are shown, the command runs on the target', async () => {
    const r = await ssh(`${sshd.user}@basic`, [WRONG, SECRET]);
    assert.equal(r.code, 0, r.stderr);
    assert.equal(r.stdout.trim(), sshd.user);
    assert.equal(r.prompts.length, 2, `prompts: ${r.prompts.join(' | ')}`);
    assert.match(r.prompts[0]!, /Token: $/);
    const sid = lastSid();
    const auth = gh.calls('authenticate').filter((c) => c.session_id === sid);
    assert.equal(auth.length, 3);
    assert.deepEqual(auth[0]!.args['key_value_pairs'], {});
    assert.deepEqual(auth[2]!.args['key_value_pairs'], { token: SECRET });
    // The cookie returned with each NEEDINFO comes back on the next call.
    assert.deepEqual((auth[2]!.args['cookie'] as { tries: object }).tries, { token: 1 });
    await gh.closedSessions(sessions);
    const e = ended(sid);
    assert.equal(e.length, 1);
    assert.equal((e[0]!.args['cookie'] as { accepted: boolean }).accepted, true);
    const authz = gh.calls('authorize').filter((c) => c.session_id === sid);
    assert.equal(authz.length, 1);
    assert.equal(authz[0]!.args['server_ip'], '127.0.0.1');
    assert.equal(authz[0]!.args['server_port'], sshd.port);
    assert.equal(authz[0]!.args['server_username'], sshd.user);
    assert.equal(authz[0]!.args['connection_name'], 'basic');
  });

  test('every SPS argument is passed by name, null where unknown', async () => {
    const auth = gh.calls('authenticate')[0]!.args;
    for (const k of ['session_id', 'cookie', 'session_cookie', 'protocol', 'connection_name', 'client_ip', 'client_port', 'client_hostname',
      'gateway_user', 'gateway_domain', 'server_username', 'server_domain', 'key_value_pairs', 'target_server', 'target_port', 'target_username']) {
      assert.ok(k in auth, `authenticate lacks ${k}`);
    }
    assert.equal(auth['protocol'], 'ssh');
    assert.equal(auth['client_ip'], '127.0.0.1');
    assert.equal(auth['gateway_user'], null);
    assert.equal(auth['target_server'], 'basic');
    assert.match(String(auth['session_id']), /^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/);
    const authz = gh.calls('authorize')[0]!.args;
    for (const k of ['gateway_groups', 'server_ip', 'server_port', 'server_hostname', 'server_username', 'server_domain', 'target_server', 'target_port', 'target_username']) {
      assert.ok(k in authz, `authorize lacks ${k}`);
    }
  });

  test('a key=value pair in the user name pre-answers the question: no prompt at all', async () => {
    const r = await ssh(`token=${SECRET}@${sshd.user}@basic`);
    assert.equal(r.code, 0, r.stderr);
    assert.equal(r.stdout.trim(), sshd.user);
    assert.deepEqual(r.prompts, []);
    const sid = lastSid();
    assert.deepEqual(gh.calls('authenticate').filter((c) => c.session_id === sid).map((c) => c.args['key_value_pairs']), [{ token: SECRET }]);
    await gh.closedSessions(sessions);
    assert.equal(ended(sid).length, 1);
  });

  test('an empty answer is passed through (MFA push), and one keyboard-interactive exchange carries several rounds', async () => {
    const r = await ssh(`${sshd.user}@two-questions`, ['Pin-55719', '']);
    assert.equal(r.code, 0, r.stderr);
    assert.equal(r.prompts.length, 2);
    assert.match(r.prompts[1]!, /OTP: $/);
    const sid = lastSid();
    assert.deepEqual(gh.calls('authenticate').filter((c) => c.session_id === sid).at(-1)!.args['key_value_pairs'], { pin: 'Pin-55719', otp: '' });
  });

  test('three wrong answers: DENY with its reason shown, session_ended once', async () => {
    const r = await ssh(`${sshd.user}@basic`, [WRONG, WRONG, WRONG, WRONG]);
    assert.equal(r.code, 255);
    assert.match(r.stderr, /Too many wrong answers\./);
    assert.equal(r.prompts.length, 3);
    assert.equal(r.stdout, '');
    const sid = lastSid();
    await gh.closedSessions(sessions);
    assert.equal(ended(sid).length, 1);
    assert.equal(gh.calls('authorize').filter((c) => c.session_id === sid).length, 0);
    const closed = gh.logs.find((l) => l.event === 'session.closed' && l.sid === sid)!;
    assert.equal(closed['reason'], 'denied');
    assert.equal(closed.code, 'DENIED_BY_PLUGIN');
  });

  test('authorize DENY: its reason reaches the user and no target login happens', async () => {
    const r = await ssh(`token=${SECRET}@${sshd.user}@authz-deny`);
    assert.equal(r.code, 255);
    assert.match(r.stderr, /Change window is closed for db01\./);
    const sid = lastSid();
    assert.equal(gh.calls('authorize').filter((c) => c.session_id === sid).length, 1);
    assert.ok(!gh.logs.some((l) => l.event === 'target.connect' && l.sid === sid));
    await gh.closedSessions(sessions);
    assert.equal(ended(sid).length, 1);
  });

  test('authorize may ask too (NEEDINFO in authorize)', async () => {
    const r = await ssh(`token=${SECRET}@${sshd.user}@authz-ask`, ['INC-7']);
    assert.equal(r.code, 0, r.stderr);
    assert.equal(r.prompts.length, 1);
    assert.match(r.prompts[0]!, /Ticket number: $/);
    const sid = lastSid();
    assert.equal(gh.calls('authorize').filter((c) => c.session_id === sid).length, 2);
  });

  test('gateway_user/gateway_groups replace the identity; a usermapping must allow a different server user', async () => {
    const ok = await ssh(`token=${SECRET}@${sshd.user}@gw-ok`);
    assert.equal(ok.code, 0, ok.stderr);
    const sidOk = lastSid();
    const authz = gh.calls('authorize').filter((c) => c.session_id === sidOk)[0]!.args;
    assert.equal(authz['gateway_user'], 'alice');
    assert.deepEqual(authz['gateway_groups'], ['ops']);

    const denied = await ssh(`token=${SECRET}@${sshd.user}@gw-nomap`);
    assert.equal(denied.code, 255);
    assert.match(denied.stderr, new RegExp(`mallory may not log in to this server as ${sshd.user}`));
    await gh.closedSessions(sessions);
    const closed = gh.logs.find((l) => l.event === 'session.closed' && l.sid === lastSid())!;
    assert.equal(closed.code, 'USERMAP_DENIED');
  });

  test('authenticate returning None with key-based target login is refused (fail closed)', async () => {
    const r = await ssh(`${sshd.user}@none-key`);
    assert.equal(r.code, 255);
    assert.match(r.stderr, /Access denied\./);
    await gh.closedSessions(sessions);
    const closed = gh.logs.find((l) => l.event === 'session.closed' && l.sid === lastSid())!;
    assert.equal(closed.code, 'NOT_AUTHENTICATED');
    assert.equal(ended(lastSid()).length, 1);
  });

  test('targets outside every allow-list and malformed user names are refused with a clear message', async () => {
    const r = await ssh(`${sshd.user}@10.1.2.3`);
    assert.equal(r.code, 255);
    assert.match(r.stderr, /Connections to 10\.1\.2\.3 are not allowed through Gatehouse\./);
    const bad = await ssh(`${sshd.user}@basic:99999`);
    assert.equal(bad.code, 255);
    assert.match(bad.stderr, /Invalid port "99999"/);
    assert.deepEqual(r.prompts, []);
  });

  test('a client offering only password authentication answers the first question with its password', async () => {
    const r = await ssh(`${sshd.user}@basic`, [WRONG, SECRET], 'id -un', ['-o', 'PreferredAuthentications=password']);
    assert.equal(r.code, 0, r.stderr);
    assert.equal(r.stdout.trim(), sshd.user);
    assert.equal(r.prompts.length, 2);
    assert.match(r.prompts[0]!, /password: $/);
    // The second question was shown as a banner before the next password prompt.
    assert.match(r.stderr, /Token: /);
  });

  test('client gone while a question is pending: session_ended runs once', async () => {
    const c = new ssh2.Client();
    const prompted = new Promise<void>((resolve) => c.on('keyboard-interactive', () => resolve()));
    c.on('error', () => undefined);
    c.connect({ host: '127.0.0.1', port: gh.port, username: `${sshd.user}@basic`, tryKeyboard: true, hostVerifier: () => true });
    await prompted;
    sessions++;
    const sid = lastSid();
    c.end();
    await gh.closedSessions(sessions);
    const closed = gh.logs.find((l) => l.event === 'session.closed' && l.sid === sid)!;
    assert.equal(closed['reason'], 'client_gone');
    assert.equal(ended(sid).length, 1);
  });

  test('a login not finished within login_grace is cut off with a message, session_ended once', async () => {
    const c = new ssh2.Client();
    const prompted = new Promise<void>((resolve) => c.on('keyboard-interactive', () => resolve()));
    const disconnected = new Promise<Error | undefined>((resolve) => {
      c.on('error', (err) => resolve(err));
      c.on('close', () => resolve(undefined));
    });
    c.connect({ host: '127.0.0.1', port: gh.port, username: `${sshd.user}@basic`, tryKeyboard: true, hostVerifier: () => true });
    await prompted;
    sessions++;
    const sid = lastSid();
    const started = Date.now();
    const err = await disconnected;
    assert.match(String(err?.message), /Login timed out/);
    assert.ok(Date.now() - started < 6000);
    await gh.closedSessions(sessions);
    const closed = gh.logs.find((l) => l.event === 'session.closed' && l.sid === sid)!;
    assert.equal(closed.code, 'LOGIN_TIMEOUT');
    assert.equal(ended(sid).length, 1);
  });

  test('the connection database keeps verdicts and additional_metadata, and no secret reaches a log or the database', async () => {
    await gh.closedSessions(sessions);
    const all = await rows(gh);
    const db = JSON.stringify(all);
    const basic = all.find((r) => r.policy === 'basic' && r.end_reason === 'logout')!;
    assert.deepEqual(basic.additional_metadata, ['{"ticket":"INC-42"}']);
    assert.ok(basic.verdicts.some((v) => v.verdict === 'ACCEPT'));
    assertNoSecrets(join(gh.dir, 'data'), [SECRET, WRONG, 'Pin-55719']);
    const logText = JSON.stringify(gh.logs);
    for (const secret of [SECRET, WRONG, 'Pin-55719']) {
      assert.ok(!logText.includes(secret), `log contains ${secret}`);
      assert.ok(!db.includes(secret), `database contains ${secret}`);
    }
  });
});
