import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import type { Gatehouse, LogLine } from '../helpers/gatehouse.js';
import { runSsh } from '../helpers/openssh.js';
import { FIXTURE_AA_PLUGINS, type PolicySpec, type Scenario, startScenario } from '../helpers/scenario.js';
import type { Sshd } from '../helpers/sshd.js';

// A plugin that throws, hangs, crashes or returns garbage denies that login with a coded log line, gets its
// session_ended exactly once, and never takes Gatehouse down or stalls the other sessions.

const TOKEN = 'good';
const SPECS: PolicySpec[] = [
  { alias: 'ok', plugin: {} },
  { alias: 'throws', plugin: { fail: { hook: 'authenticate', how: 'throw' } } },
  { alias: 'hangs', plugin: { fail: { hook: 'authenticate', how: 'hang', when: 'answered' } } },
  { alias: 'hangs-authz', plugin: { fail: { hook: 'authorize', how: 'hang' } } },
  { alias: 'garbage', plugin: { fail: { hook: 'authenticate', how: 'garbage' } } },
  { alias: 'bad-verdict', plugin: { fail: { hook: 'authenticate', how: 'bad_verdict' } } },
  { alias: 'bad-question', plugin: { fail: { hook: 'authenticate', how: 'bad_question' } } },
  { alias: 'exits', plugin: { fail: { hook: 'authenticate', how: 'exit' } } },
  { alias: 'async-throw', plugin: { fail: { hook: 'authenticate', how: 'async_throw' } } },
  { alias: 'ended-throws', plugin: { fail: { hook: 'session_ended', how: 'throw' } } },
];

for (const plugin of FIXTURE_AA_PLUGINS) describe(`plugin failures deny that login only [${plugin}]`, () => {
  let sshd: Sshd;
  let gh: Gatehouse;
  let sessions = 0;
  const ssh = (alias: string, answers: string[] = [TOKEN]) => {
    sessions++;
    return runSsh({ port: gh.port, knownHosts: gh.knownHosts, login: `${sshd.user}@${alias}`, answers, command: 'echo through' });
  };
  const closedLine = async (alias: string): Promise<LogLine> => {
    const lines = await gh.closedSessions(sessions);
    return lines.filter((l) => l['policy'] === alias).at(-1)!;
  };
  const endedOnce = (sid: string) => assert.equal(gh.calls('session_ended').filter((c) => c.session_id === sid).length, 1, `session_ended for ${sid}`);

  let scenario: Scenario | undefined;
  before(async () => {
    scenario = await startScenario(SPECS, { plugin: plugin, extra: { timeouts: { proxy: 8 } } });
    ({ sshd, gh } = scenario);
  });
  after(async () => {
    await scenario?.stop();
  });

  for (const [alias, code] of [
    ['throws', 'PLUGIN_THREW'], ['garbage', 'PLUGIN_BAD_RESULT'], ['bad-verdict', 'PLUGIN_BAD_RESULT'],
    ['bad-question', 'PLUGIN_BAD_RESULT'], ['exits', 'PLUGIN_CRASHED'], ['async-throw', 'PLUGIN_THREW'],
  ] as const) {
    test(`${alias}: login denied with ${code}, session_ended once`, async () => {
      const r = await ssh(alias);
      assert.equal(r.code, 255);
      assert.match(r.stderr, /Access denied: the authentication service failed\./);
      assert.equal(r.stdout, '');
      const closed = await closedLine(alias);
      assert.equal(closed.code, code);
      assert.equal(closed['reason'], 'denied');
      assert.ok(gh.logs.some((l) => l.event === 'hook.error' && l.sid === closed.sid && l.code === code && l.level === 'error'));
      endedOnce(closed.sid!);
    });
  }

  test('a busy-looping hook is stopped at the plugin timeout while other logins go through; session_ended sees the last good cookie', async () => {
    const hanging = ssh('hangs', ['anything']);
    await gh.waitFor('the hanging hook to start', () => gh.calls('authenticate').some((c) => c.args['connection_name'] === 'hangs' && Object.keys(c.args['key_value_pairs'] as object).length > 0));
    let hangingOver = false;
    void hanging.then(() => { hangingOver = true; });
    const other = await ssh('ok');
    assert.equal(other.code, 0, other.stderr);
    assert.equal(other.stdout.trim(), 'through');
    // Not a wall-clock bound (a loaded machine makes any login slow): the other login must be through while
    // the spinning hook is still within its timeout, i.e. before the hanging login has been refused.
    assert.ok(!hangingOver && !gh.logs.some((l) => l.event === 'session.closed' && l['policy'] === 'hangs'),
      'the other login finished while the plugin was still spinning');

    const r = await hanging;
    assert.equal(r.code, 255);
    assert.match(r.stderr, /did not answer in time/);
    const closed = await closedLine('hangs');
    assert.equal(closed.code, 'PLUGIN_TIMEOUT');
    const ended = gh.calls('session_ended').filter((c) => c.session_id === closed.sid);
    assert.equal(ended.length, 1);
    // The killed call's cookie changes are lost: session_ended has the cookie of the NEEDINFO before it.
    assert.deepEqual(ended[0]!.args['cookie'], { tries: {}, asked: 1 });
  });

  test('a hanging authorize: timeout, and session_ended still gets authenticate\'s cookie', async () => {
    const r = await ssh('hangs-authz');
    assert.equal(r.code, 255);
    const closed = await closedLine('hangs-authz');
    assert.equal(closed.code, 'PLUGIN_TIMEOUT');
    const ended = gh.calls('session_ended').filter((c) => c.session_id === closed.sid);
    assert.equal(ended.length, 1);
    assert.equal((ended[0]!.args['cookie'] as Record<string, unknown>)['accepted'], true);
    assert.equal((ended[0]!.args['cookie'] as Record<string, unknown>)['authorized'], undefined);
  });

  test('session_ended that throws is logged; the session was served and Gatehouse carries on', async () => {
    const r = await ssh('ended-throws');
    assert.equal(r.code, 0, r.stderr);
    const closed = await closedLine('ended-throws');
    assert.equal(closed['reason'], 'logout');
    assert.ok(gh.logs.some((l) => l.event === 'hook.error' && l.sid === closed.sid && l['hook'] === 'session_ended'));
  });

  test('after all of that, Gatehouse still serves', async () => {
    const r = await ssh('ok');
    assert.equal(r.code, 0, r.stderr);
    assert.equal(r.stdout.trim(), 'through');
  });
});
