import assert from 'node:assert/strict';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import type { SessionRecord } from '../../src/store/session-db.js';
import type { Gatehouse } from '../helpers/gatehouse.js';
import { runSsh, type ClientResult } from '../helpers/openssh.js';
import { CLI } from '../helpers/paths.js';
import { assertNoSecrets, cli, rows, rowWhen } from '../helpers/session-db.js';
import { type Scenario, startScenario } from '../helpers/scenario.js';
import type { Sshd } from '../helpers/sshd.js';
import { Terminal } from '../helpers/terminal.js';

// The connection database with real ssh sessions: a row from the moment a connection arrives, complete after
// every way a session ends, each storage policy, anonymous expiry, the per-user cap, administrators' terminate
// by user and all, and no secret of the suite anywhere in the files.

/** Gateway users other than the server user need a usermapping. */
const ANYONE = { usermapping: [{ server_user: '*', gateway_users: ['*'] }] };
const SECRET = 'Db-Secret-Token-5519';

/** The sid of the nth (from 1) session that logged `event`. */
async function sidOf(gh: Gatehouse, event: string, nth: number): Promise<string> {
  await gh.waitFor(`${nth} ${event}`, () => gh.logs.filter((l) => l.event === event).length >= nth);
  return gh.logs.filter((l) => l.event === event)[nth - 1]!.sid!;
}

describe('connection database: one row per session, from arrival to end', () => {
  let scenario: Scenario;
  let sshd: Sshd;
  let gh: Gatehouse;
  const login = (alias: string, pre = `token=${SECRET}@`): string => `${pre}${sshd.user}@${alias}`;
  const ssh = (alias: string, command: string, extra: Partial<Parameters<typeof runSsh>[0]> = {}): Promise<ClientResult> =>
    runSsh({ port: gh.port, knownHosts: gh.knownHosts, login: login(alias), command, timeoutMs: 120_000, ...extra });

  before(async () => {
    scenario = await startScenario([
      { alias: 'ok', plugin: { expect: { token: SECRET }, gateway: { user: 'alice', groups: ['ops'] }, additional_metadata: 'ticket=7' }, more: ANYONE },
      { alias: 'bob', plugin: { expect: { token: SECRET }, gateway: { user: 'bob', groups: [] } }, more: ANYONE },
      { alias: 'deny', plugin: { expect: { token: SECRET }, authorize: { verdict: 'DENY', reason: 'Not today.' } } },
      { alias: 'broken', plugin: { fail: { hook: 'authenticate', how: 'throw' } } },
      { alias: 'idle', plugin: { expect: { token: SECRET } }, more: { idle_timeout: 1 } },
    ], { extra: { sessions: { storage: 'persistent' } } });
    ({ sshd, gh } = scenario);
  });
  after(async () => {
    await scenario?.stop();
  });

  test('a live session has its row (login, verdicts, channel) while it runs; terminate completes it', async () => {
    const running = ssh('ok', 'sleep 300');
    const sid = await sidOf(gh, 'session.active', 1);
    const live = await rowWhen(gh, sid, (r) => r?.channels[0]?.command === 'sleep 300', 'the live row with its channel');
    assert.equal(live?.ended_at, null);
    assert.equal(live?.end_reason, null);
    assert.ok(live?.login_at);
    assert.equal(live?.gateway_user, 'alice');
    assert.deepEqual(live?.gateway_groups, ['ops']);
    assert.equal(live?.server_user, sshd.user);
    assert.equal(live?.target_name, 'ok');
    assert.equal(live?.target_port, sshd.port);
    assert.equal(live?.policy, 'ok');
    assert.deepEqual(live?.verdicts.map((v) => `${v.hook}:${v.verdict}`), ['authenticate:ACCEPT', 'authorize:ACCEPT']);
    assert.deepEqual(live?.additional_metadata, ['ticket=7']);
    assert.equal(live?.channels[0]?.type, 'session');
    assert.equal(live?.channels[0]?.request, 'exec');

    const t = await cli('terminate', sid, '--config', gh.configFile);
    assert.equal(t.code, 0, t.stderr);
    const client = await running;
    assert.match(client.stderr, /Session terminated by an administrator\./);
    const done = await rowWhen(gh, sid, (r) => r?.ended_at != null, 'the terminated row');
    assert.equal(done?.end_reason, 'terminated');
    assert.equal(done?.end_code, 'TERMINATED');
    assert.ok(done?.channels[0]?.closed_at);
  });

  test('after logout the row is complete: channels with command, bytes and exit status', async () => {
    const r = await ssh('ok', 'echo hello; exit 3');
    assert.equal(r.code, 3, r.stderr);
    assert.equal(r.stdout, 'hello\n');
    const sid = gh.logs.filter((l) => l.event === 'session.active').at(-1)!.sid!;
    const row = await rowWhen(gh, sid, (x) => x?.ended_at != null, 'the ended row');
    assert.equal(row?.end_reason, 'logout');
    assert.equal(row?.end_code, null);
    assert.deepEqual(row?.channels.map((c) => [c.type, c.request, c.command, c.exit_status, c.bytes_to_client]), [['session', 'exec', 'echo hello; exit 3', 3, 6]]);
    assert.ok((row?.bytes_to_client ?? 0) >= 6);
    assert.ok(Date.parse(row!.connected_at) <= Date.parse(row!.login_at!) && Date.parse(row!.login_at!) <= Date.parse(row!.ended_at!));
  });

  test('a subsystem channel is stored with its name', async () => {
    const r = await runSsh({ port: gh.port, knownHosts: gh.knownHosts, login: login('ok'), options: ['-s'], command: 'sftp', stdin: '', timeoutMs: 60_000 });
    assert.notEqual(r.code, null);
    const sid = gh.logs.filter((l) => l.event === 'session.active').at(-1)!.sid!;
    const row = await rowWhen(gh, sid, (x) => x?.ended_at != null, 'the sftp row');
    assert.equal(row?.channels[0]?.request, 'subsystem');
    assert.equal(row?.channels[0]?.subsystem, 'sftp');
  });

  test('a denied login and a failing plugin leave complete rows that never logged in', async () => {
    const denied = await ssh('deny', 'true');
    assert.equal(denied.code, 255);
    const deniedSid = gh.logs.filter((l) => l.event === 'auth.deny').at(-1)!.sid!;
    const broken = await ssh('broken', 'true');
    assert.equal(broken.code, 255);
    const brokenSid = gh.logs.filter((l) => l.event === 'auth.deny').at(-1)!.sid!;
    const d = await rowWhen(gh, deniedSid, (r) => r?.ended_at != null, 'the denied row');
    assert.equal(d?.end_reason, 'denied');
    assert.equal(d?.end_code, 'DENIED_BY_PLUGIN');
    assert.equal(d?.login_at, null);
    assert.deepEqual(d?.verdicts.map((v) => `${v.hook}:${v.verdict}`), ['authenticate:ACCEPT', 'authorize:DENY']);
    const b = await rowWhen(gh, brokenSid, (r) => r?.ended_at != null, 'the plugin failure row');
    assert.equal(b?.end_reason, 'denied');
    assert.equal(b?.end_code, 'PLUGIN_THREW');
    assert.deepEqual(b?.verdicts.map((v) => `${v.hook}:${v.verdict}`), ['authenticate:PLUGIN_THREW']);
    assert.equal(b?.login_at, null);
  });

  test('idle timeout ends the session and says so in its row', async () => {
    const r = await ssh('idle', 'sleep 300');
    assert.match(r.stderr, /idle/i);
    const sid = gh.logs.filter((l) => l.event === 'session.active').at(-1)!.sid!;
    const row = await rowWhen(gh, sid, (r) => r?.ended_at != null, 'the idle row');
    assert.equal(row?.policy, 'idle');
    assert.equal(row?.end_reason, 'idle_timeout');
    assert.equal(row?.end_code, 'IDLE_TIMEOUT');
  });

  test('terminate --user ends that user\'s sessions only; terminate --all the rest; each row says so', async () => {
    const a1 = ssh('ok', 'sleep 300');
    const a2 = ssh('ok', 'sleep 300');
    const b1 = ssh('bob', 'sleep 300');
    await gh.waitFor('three live sessions', () => gh.app.registry.list().filter((s) => s.phase === 'active').length === 3, 30_000);
    // On a terminal it lists what it would end and asks; anything but yes ends nothing.
    const term = new Terminal(process.execPath, [CLI, 'terminate', '--user', 'alice', '--config', gh.configFile]);
    try {
      const at = await term.waitFor(/End these 2 sessions\? \[y\/N\] /);
      assert.match(term.transcript, /alice/);
      term.type('n\r');
      await term.waitFor(/nothing terminated/, at);
      assert.equal(await term.exited, 1);
    } finally {
      term.kill();
    }
    assert.equal(gh.app.registry.list().filter((s) => s.phase === 'active').length, 3);
    const byUser = await cli('terminate', '--user', 'alice', '--yes', '--config', gh.configFile);
    assert.equal(byUser.code, 0, byUser.stderr);
    assert.equal(byUser.stdout.trim().split('\n').filter((l) => l.startsWith('terminated ')).length, 2, byUser.stdout);
    for (const c of await Promise.all([a1, a2])) assert.match(c.stderr, /Session terminated by an administrator\./);
    assert.equal(gh.app.registry.list().filter((s) => s.phase === 'active').length, 1, 'bob is still connected');
    const noYes = await cli('terminate', '--all', '--config', gh.configFile);
    assert.equal(noYes.code, 2);
    assert.match(noYes.stderr, /--yes/);
    const all = await cli('terminate', '--all', '--yes', '--config', gh.configFile);
    assert.equal(all.code, 0, all.stderr);
    assert.match((await b1).stderr, /Session terminated by an administrator\./);
    // The client is told before the session has finished closing (session_ended, then the row's end): wait
    // for the rows rather than read them at once.
    let terminated = await rows(gh, { reason: 'terminated' });
    for (const deadline = Date.now() + 20_000; terminated.filter((r) => r.gateway_user === 'bob').length === 0 && Date.now() < deadline;) {
      await new Promise((r) => setTimeout(r, 50));
      terminated = await rows(gh, { reason: 'terminated' });
    }
    assert.equal(terminated.filter((r) => r.gateway_user === 'alice').length >= 2, true);
    assert.equal(terminated.filter((r) => r.gateway_user === 'bob').length, 1);
  });

  test('history: --all with filters, show ID, --json; the secrets of the suite appear nowhere', async () => {
    const list = await cli('sessions', '--all', '--user', 'alice', '--reason', 'logout', '--config', gh.configFile);
    assert.equal(list.code, 0, list.stderr);
    assert.match(list.stdout, /^SESSION +CONNECTED +DURATION/);
    assert.match(list.stdout, / alice +logout /);
    assert.doesNotMatch(list.stdout, /terminated/);
    const json = JSON.parse((await cli('sessions', '--all', '--policy', 'deny', '--json', '--config', gh.configFile)).stdout) as SessionRecord[];
    assert.ok(json.length >= 1 && json.every((r) => r.policy === 'deny'));
    const show = await cli('sessions', 'show', json[0]!.session_id, '--config', gh.configFile);
    assert.equal(show.code, 0, show.stderr);
    assert.match(show.stdout, /authorize DENY/);
    assert.match(show.stdout, /ended +\S+: denied \(DENIED_BY_PLUGIN\)/);
    for (const out of [list.stdout, show.stdout, JSON.stringify(json)]) assert.ok(!out.includes(SECRET));
    assertNoSecrets(join(gh.dir, 'data'), [SECRET, `token=${SECRET}`]);
  });
});
