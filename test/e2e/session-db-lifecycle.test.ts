import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { after, before, describe, test } from 'node:test';
import type { Gatehouse } from '../helpers/gatehouse.js';
import { runSsh, type ClientResult } from '../helpers/openssh.js';
import { CLI } from '../helpers/paths.js';
import { type Scenario, startScenario } from '../helpers/scenario.js';
import type { Sshd } from '../helpers/sshd.js';
import { assertNoSecrets, cli, rowWhen, rows, setSessions } from '../helpers/session-db.js';

// The connection database across configurations and process lifetimes: each storage policy, anonymous
// expiry, the per-user cap (refuse, end_oldest, per policy), shutdown, kill -9 and the restart that closes the
// orphaned rows as crashed, and history read with Gatehouse stopped.

/** Gateway users other than the server user need a usermapping. */
const ANYONE = { usermapping: [{ server_user: '*', gateway_users: ['*'] }] };
const SECRET = 'Life-Secret-Token-8831';

describe('connection database: storage policies, expiry, limits, shutdown and crash', () => {
  let scenario: Scenario;
  let sshd: Sshd;
  let gh: Gatehouse;
  let child: ChildProcess | undefined;
  const ssh = (alias: string, command: string, port = gh.port, knownHosts = gh.knownHosts): Promise<ClientResult> =>
    runSsh({ port, knownHosts, login: `token=${SECRET}@${sshd.user}@${alias}`, command, timeoutMs: 120_000 });
  const active = (): number => gh.app.registry.list().filter((s) => s.phase === 'active').length;
  const lastSid = (event: string): string => gh.logs.filter((l) => l.event === event).at(-1)!.sid!;

  before(async () => {
    scenario = await startScenario([
      { alias: 'ok', plugin: { expect: { token: SECRET }, gateway: { user: 'alice', groups: [] } }, more: ANYONE },
      { alias: 'capped', plugin: { expect: { token: SECRET }, gateway: { user: 'carol', groups: [] } }, more: { ...ANYONE, max_sessions_per_user: 1 } },
      { alias: 'deny', plugin: { expect: { token: SECRET }, authorize: { verdict: 'DENY', reason: 'Not today.' } } },
    ]);
    ({ sshd, gh } = scenario);
  });
  after(async () => {
    if (child && child.exitCode === null) child.kill('SIGKILL');
    await scenario?.stop();
  });

  for (const storage of ['authenticated', 'ended', 'none'] as const) {
    test(`storage ${storage}: rows of what it says and nothing else; live sessions are still listed`, async () => {
      await setSessions(gh, { storage });
      const running = ssh('ok', 'sleep 300');
      await gh.waitFor('the session to be active', () => active() === 1);
      const live = lastSid('session.active');
      const listed = await cli('sessions', '--config', gh.configFile);
      assert.match(listed.stdout, new RegExp(live));
      await rowWhen(gh, live, (r) => (storage === 'authenticated' ? r !== undefined && r.ended_at === null : r === undefined), 'the live row as the policy says');
      const denied = await ssh('deny', 'true');
      assert.equal(denied.code, 255);
      const deniedSid = lastSid('auth.deny');
      assert.equal((await cli('terminate', live, '--config', gh.configFile)).code, 0);
      await running;
      await gh.waitFor('both closed', () => gh.logs.filter((l) => l.event === 'session.closed' && (l.sid === live || l.sid === deniedSid)).length === 2);
      const ended = await rowWhen(gh, live, (r) => (storage === 'none' ? r === undefined : r?.end_reason === 'terminated'), 'the ended row as the policy says');
      if (storage !== 'none') assert.equal(ended?.gateway_user, 'alice');
      const deniedRow = (await rows(gh)).find((r) => r.session_id === deniedSid);
      if (storage === 'ended') assert.equal(deniedRow?.end_reason, 'denied');
      else assert.equal(deniedRow, undefined);
    });
  }

  test('anonymous expiry removes the rows of sessions that never logged in, and nothing else', async () => {
    await setSessions(gh, { storage: 'persistent', anonymous_expiry: 2 });
    const denied = await ssh('deny', 'true');
    assert.equal(denied.code, 255);
    const deniedSid = lastSid('auth.deny');
    const ok = await ssh('ok', 'true');
    assert.equal(ok.code, 0, ok.stderr);
    const okSid = lastSid('session.active');
    await rowWhen(gh, okSid, (r) => r?.ended_at != null, 'the logged-in row');
    await rowWhen(gh, deniedSid, (r) => r !== undefined, 'the anonymous row at first');
    await rowWhen(gh, deniedSid, (r) => r === undefined, 'the anonymous row to expire', 30_000);
    assert.equal((await rows(gh)).find((r) => r.session_id === okSid)?.end_reason, 'logout');
    await setSessions(gh, { storage: 'persistent' });
  });

  test('max_sessions_per_user: refuse tells the newcomer why; end_oldest tells the oldest session\'s user', async () => {
    await setSessions(gh, { max_sessions_per_user: 1, on_limit: 'refuse' });
    const first = ssh('ok', 'sleep 300');
    await gh.waitFor('the first session', () => active() === 1);
    const firstSid = lastSid('session.active');
    const refused = await ssh('ok', 'true');
    assert.equal(refused.code, 255);
    assert.match(refused.stderr, /Access denied: alice already has 1 session open, and at most 1 session may be open at once\./);
    const refusal = gh.logs.find((l) => l.event === 'session.limit' && l['action'] === 'refused');
    assert.equal(refusal?.['rule'], 'sessions.max_sessions_per_user');
    assert.equal(refusal?.['user'], 'alice');

    await setSessions(gh, { max_sessions_per_user: 1, on_limit: 'end_oldest' });
    const second = ssh('ok', 'sleep 300');
    const old = await first;
    assert.match(old.stderr, /Session ended: alice opened a newer session, and at most 1 session may be open at once\./);
    const ended = gh.logs.find((l) => l.event === 'session.limit' && l['action'] === 'ended_oldest');
    assert.equal(ended?.['rule'], 'sessions.max_sessions_per_user');
    assert.equal(ended?.['ended'], firstSid);
    const row = await rowWhen(gh, firstSid, (r) => r?.ended_at != null, 'the ended oldest row');
    assert.equal(row?.end_reason, 'session_limit');
    assert.equal(row?.end_code, 'SESSION_LIMIT');
    await gh.waitFor('the newer session', () => active() === 1);
    await cli('terminate', '--all', '--yes', '--config', gh.configFile);
    await second;
    await setSessions(gh, { storage: 'persistent' });
  });

  test('a policy\'s own max_sessions_per_user refuses with its rule named', async () => {
    const first = ssh('capped', 'sleep 300');
    await gh.waitFor('the capped session', () => active() === 1);
    const refused = await ssh('capped', 'true');
    assert.match(refused.stderr, /carol already has 1 session open/);
    assert.ok(gh.logs.some((l) => l.event === 'session.limit' && l['rule'] === 'policies.capped.max_sessions_per_user'));
    await cli('terminate', '--all', '--yes', '--config', gh.configFile);
    await first;
  });

  test('shutdown closes live rows as shutdown; kill -9 leaves them live until a restart closes them as crashed', async () => {
    const running = ssh('ok', 'sleep 300');
    await gh.waitFor('a live session', () => active() === 1);
    const sid = lastSid('session.active');
    await gh.app.stop(10_000);
    assert.match((await running).stderr, /Gatehouse is shutting down/);
    assert.equal((await rows(gh)).find((r) => r.session_id === sid)?.end_reason, 'shutdown');

    // The same configuration as a real process, so that it can be killed.
    const lines: Record<string, unknown>[] = [];
    const start = async (): Promise<number> => {
      child = spawn(process.execPath, [CLI, 'serve', '--config', gh.configFile], { stdio: ['ignore', 'pipe', 'inherit'] });
      createInterface({ input: child.stdout! }).on('line', (l) => lines.push(JSON.parse(l) as Record<string, unknown>));
      const seen = lines.length;
      await gh.waitFor('the child to listen', () => lines.slice(seen).some((l) => l['event'] === 'server.listening'), 30_000);
      return lines.slice(seen).find((l) => l['event'] === 'server.listening')!['port'] as number;
    };
    const port = await start();
    const knownHosts = join(gh.dir, 'child_known_hosts');
    writeFileSync(knownHosts, `[127.0.0.1]:${port} ${readFileSync(join(gh.dir, 'keys', 'host_ed25519.pub'), 'utf8').trim()}\n`);
    const orphan = ssh('ok', 'sleep 300', port, knownHosts);
    await gh.waitFor('the child\'s session', () => lines.some((l) => l['event'] === 'session.active'), 30_000);
    const orphanSid = lines.find((l) => l['event'] === 'session.active')!['sid'] as string;
    const live = await rowWhen(gh, orphanSid, (r) => r?.channels.length === 1, 'the orphan row with its channel');
    child!.kill('SIGKILL');
    await orphan;
    await new Promise((r) => child!.exitCode !== null || child!.signalCode !== null ? r(undefined) : child!.once('exit', r));

    // Gatehouse is stopped: live commands say so, history commands read the database.
    const liveCmd = await cli('sessions', '--config', gh.configFile);
    assert.equal(liveCmd.code, 1);
    assert.match(liveCmd.stderr, /no Gatehouse is running with this configuration/);
    const history = await cli('sessions', '--all', '--config', gh.configFile);
    assert.equal(history.code, 0, history.stderr);
    assert.match(history.stdout, new RegExp(`${orphanSid} .* live `));
    assert.match(history.stdout, new RegExp(`${sid} .* shutdown `));
    const show = await cli('sessions', 'show', sid, '--json', '--config', gh.configFile);
    assert.equal((JSON.parse(show.stdout) as { end_reason: string }).end_reason, 'shutdown');
    assert.equal((await rows(gh)).find((r) => r.session_id === orphanSid)?.ended_at, null);

    await start();
    const crashed = await rowWhen(gh, orphanSid, (r) => r?.end_reason === 'crashed', 'the orphan closed as crashed');
    assert.equal(crashed?.end_code, 'CRASHED');
    assert.equal(crashed?.ended_at, crashed?.updated_at);
    assert.ok(Date.parse(crashed!.ended_at!) >= Date.parse(live!.updated_at));
    assert.ok(crashed?.channels[0]?.closed_at);
    assert.ok(lines.some((l) => l['event'] === 'store.crash_recovery' && l['rows'] === 1));
    child!.kill('SIGTERM');
    await new Promise((r) => child!.exitCode !== null ? r(undefined) : child!.once('exit', r));
    assertNoSecrets(join(gh.dir, 'data'), [SECRET, `token=${SECRET}`]);
  });
});
