import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { runSsh } from '../helpers/openssh.js';
import { startScenario, type Scenario } from '../helpers/scenario.js';

// `gatehouse serve --dev` through real ssh logins: every hook call is traced (arguments, result, both
// cookies before and after, duration) without ever printing an answer typed at a no-echo question or given
// in the user name; a refused user reads the plugin's reason and the error code.

const OTP = 'S3cret-otp-991';
const PRE = 'Pre-answer-77';

describe('--dev: hook traces and what a refused user reads', () => {
  let sc: Scenario;
  const ssh = (login: string, answers: string[]) => runSsh({ port: sc.gh.port, knownHosts: sc.gh.knownHosts, login, answers, command: 'id -un' });

  before(async () => {
    sc = await startScenario([
      { alias: 'mfa', plugin: { questions: [['user', 'Username: ', false], ['otp', 'OTP: ', true]], expect: { user: 'alice', otp: OTP } } },
      { alias: 'deny', plugin: { questions: [['otp', 'OTP: ', true]], expect: { otp: OTP }, max_tries: 1 } },
      { alias: 'broken', plugin: { fail: { hook: 'authenticate', how: 'throw' } } },
    ], { dev: true });
  });
  after(async () => {
    await sc?.stop();
  });

  test('traces show every call with cookies and masked secrets; no no-echo answer anywhere in the log', async () => {
    const r = await ssh(`pin=${PRE}@${sc.sshd.user}@mfa`, ['alice', OTP]);
    assert.equal(r.code, 0, r.stderr);
    const closed = (await sc.gh.closedSessions(1)).at(-1)!;
    await sc.gh.waitFor('session_ended trace', () => sc.gh.logs.some((l) => l.event === 'hook.trace' && l.sid === closed.sid && l['hook'] === 'session_ended'));
    const traces = sc.gh.logs.filter((l) => l.event === 'hook.trace' && l.sid === closed.sid);
    assert.deepEqual(traces.map((t) => t['hook']), ['authenticate', 'authenticate', 'authenticate', 'authorize', 'session_ended']);
    type Shown = { args: Record<string, unknown>; result: Record<string, unknown>; cookie: { before: Record<string, unknown>; after: Record<string, unknown> }; session_cookie: object; ms: number };
    const shown = traces.map((t) => t['trace'] as Shown);
    const last = shown[2]!;
    assert.deepEqual(last.args['key_value_pairs'], { pin: '***', user: 'alice', otp: '***' });
    assert.equal(last.result['verdict'], 'ACCEPT');
    assert.equal(last.cookie.before['asked'], 2);
    assert.equal(last.cookie.after['accepted'], true);
    assert.equal(shown[0]!.result['verdict'], 'NEEDINFO');
    assert.deepEqual(shown[0]!.cookie.before, {});
    assert.ok(typeof last.ms === 'number' && last.session_cookie);
    assert.equal(shown[4]!.cookie.before['authorized'], true, 'session_ended shows the cookie authorize left');
    const all = JSON.stringify(sc.gh.logs);
    assert.ok(!all.includes(OTP), 'a no-echo answer reached the log');
    assert.ok(!all.includes(PRE), 'an answer given in the user name reached the log');
  });

  test('a denied user reads the plugin\'s reason and the error code', async () => {
    const r = await ssh(`${sc.sshd.user}@deny`, ['wrong-1']);
    assert.equal(r.code, 255);
    assert.match(r.stderr, /Too many wrong answers\. \[DENIED_BY_PLUGIN: authenticate denied: Too many wrong answers\.\]/);
    const failed = await ssh(`${sc.sshd.user}@broken`, []);
    assert.equal(failed.code, 255);
    assert.match(failed.stderr, /the authentication service failed\. \[PLUGIN_THREW: plugin scripted authenticate: Error: scripted failure in authenticate\]/);
    assert.ok(!JSON.stringify(sc.gh.logs).includes('wrong-1'));
  });
});
